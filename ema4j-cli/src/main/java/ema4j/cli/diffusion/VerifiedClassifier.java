package ema4j.cli.diffusion;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.Model;
import ema4j.cli.train.FashionModel;
import ema4j.demo.metric.ClassifierFeatures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Locale;

/**
 * The classifier whose feature space a diffusion score is measured in, loaded only when its file has the SHA-256 the
 * caller expects: a retrained or changed classifier is another ruler (see {@link ClassifierFeatures}), so it must not
 * change the numbers silently. The bytes that are hashed are the bytes that are loaded.
 *
 * <p>The file is a DJL model as {@code Model.save} writes it ({@code ema4j train} writes {@code OUT/models/
 * fmnist-raw-0000.params}) of one of the demo classifiers. Closing it closes the model; not thread-safe.
 */
public final class VerifiedClassifier implements AutoCloseable {
    private static final String NAME = "classifier";

    private final Model model;
    private final String sha256;

    private VerifiedClassifier(Model model, String sha256) {
        this.model = model;
        this.sha256 = sha256;
    }

    /**
     * Hashes {@code file} and, if the hash is {@code expectedSha256}, loads it as the {@code architecture}.
     *
     * @param file the classifier's weights
     * @param expectedSha256 64 hexadecimal digits, either case
     * @param architecture the classifier the file holds
     * @return the loaded classifier, in inference use only
     * @throws IllegalArgumentException when the hash differs (the message gives both), or the file is not a complete
     *     model of that architecture
     * @throws IOException when the file cannot be read
     */
    public static VerifiedClassifier open(Path file, String expectedSha256, FashionModel architecture)
            throws IOException {
        requireArgument(expectedSha256 != null && expectedSha256.matches("[0-9a-fA-F]{64}"), "--classifier-sha256",
                "64 hexadecimal digits", expectedSha256);
        byte[] bytes = Files.readAllBytes(file);
        String actual = sha256(bytes);
        requireArgument(actual.equalsIgnoreCase(expectedSha256), "--classifier-sha256", "the SHA-256 of " + file
                + ", " + actual + " (another classifier would change the metric; score with the one recorded, or"
                + " record the new one's hash on purpose)", expectedSha256.toLowerCase(Locale.ROOT));
        // loaded from a private copy of the hashed bytes: DJL's loader picks a file by prefix and epoch, not by path
        Path copy = Files.createTempDirectory("ema4j-classifier-");
        Model model = Model.newInstance(NAME, Device.cpu());
        try {
            Files.write(copy.resolve(NAME + "-0000.params"), bytes);
            model.setBlock(architecture.block());
            model.load(copy, NAME);
            String saved = model.getProperty(FashionModel.PROPERTY);
            requireArgument(saved == null || saved.equals(architecture.toString()), "--classifier-model", saved
                    + ", the model " + file + " holds", architecture);
            for (var parameter : model.getBlock().getParameters()) {
                requireArgument(parameter.getValue().isInitialized(), "--classifier", "a complete model of the "
                        + architecture + " (parameter " + parameter.getKey() + " is missing)", file);
            }
            return new VerifiedClassifier(model, actual);
        } catch (MalformedModelException | RuntimeException | IOException e) {
            model.close();
            if (e instanceof IllegalArgumentException refused) {
                throw refused;
            }
            throw new IllegalArgumentException("--classifier must be a model of the " + architecture + ", was " + file
                    + " (" + e.getMessage() + ")", e);
        } finally {
            Files.deleteIfExists(copy.resolve(NAME + "-0000.params"));
            Files.deleteIfExists(copy);
        }
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    /**
     * Returns the classifier's feature extractor (Heusel et al. 2017's role of Inception's pool features).
     *
     * @return the features before the class layer; valid until {@link #close()}
     */
    public ClassifierFeatures features() {
        return ClassifierFeatures.of(model.getBlock());
    }

    /**
     * Returns the file's SHA-256.
     *
     * @return 64 lower-case hexadecimal digits
     */
    public String sha256() {
        return sha256;
    }

    /** Closes the model and its weights. */
    @Override
    public void close() {
        model.close();
    }
}
