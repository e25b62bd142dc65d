package ema4j.training;

import java.nio.file.Path;
import java.util.List;

/**
 * A resume refused because settings that decide where training goes differ from the checkpoint's; resuming anyway
 * would not continue the run the checkpoint belongs to. {@link TrainingLoop.Builder#acceptChangedSettings} allows it
 * on purpose.
 */
public final class ChangedSettingsException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    /** Each difference, e.g. {@code "learning rate 0.05 in the checkpoint, 0.1 now"}. */
    private final List<String> differences;

    /**
     * @param checkpoint the checkpoint resumed from
     * @param differences each difference, at least one
     */
    public ChangedSettingsException(Path checkpoint, List<String> differences) {
        super("the settings of a resumed run must be the checkpoint's (" + checkpoint + "), for an exact continuation"
                + " (accept changed settings to change them on purpose), was " + differences.size() + " different: "
                + String.join("; ", differences));
        this.differences = List.copyOf(differences);
    }

    /** Each difference, in the order of the settings. */
    public List<String> differences() {
        return differences;
    }
}
