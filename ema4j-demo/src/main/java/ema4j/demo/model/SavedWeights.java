package ema4j.demo.model;

import ai.djl.MalformedModelException;
import ai.djl.Model;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Weights saved by {@code Model.save} ({@code dir/name-0000.params}), loaded strictly: a file cut short or of another
 * architecture fails instead of leaving parameters uninitialized.
 */
public final class SavedWeights {
    private SavedWeights() {}

    /**
     * Loads {@code dir/name-0000.params} into the block of {@code model}, which must be a fresh block of the
     * architecture that saved it.
     *
     * @param architecture what the block is, for the message, e.g. {@code "this CNN"}
     * @throws IllegalArgumentException when the file holds another architecture or is cut short
     * @throws IOException when the file cannot be read
     */
    public static void load(Model model, Path dir, String name, String architecture) throws IOException {
        Path file = dir.resolve(name + "-0000.params");
        try {
            model.load(dir, name);
            // DJL reads a cut-short file without a word and leaves the parameters it did not reach uninitialized
            for (var parameter : model.getBlock().getParameters()) {
                if (!parameter.getValue().isInitialized()) {
                    throw new MalformedModelException("parameter " + parameter.getKey() + " is missing (the file is"
                            + " cut short or of another model)");
                }
            }
        } catch (MalformedModelException | ai.djl.nn.UninitializedParameterException e) {
            throw new IllegalArgumentException(file + " is not a model of " + architecture + ": " + e.getMessage(), e);
        } catch (java.io.EOFException | RuntimeException e) {
            throw new IllegalArgumentException(file + " is not a complete model of " + architecture + ": "
                    + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()), e);
        }
    }
}
