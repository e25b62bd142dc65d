package ema4j.io.posthoc;

import static ema4j.core.internal.Preconditions.requireArgument;

import ema4j.core.posthoc.PowerFunctionProfile;

/**
 * One recorded snapshot of a power-function EMA as the store's manifest lists it.
 *
 * @param file the safetensors file's name within the store's directory
 * @param step the optimizer steps taken when the snapshot was recorded, {@code >= 1}; the profile's time
 * @param gamma the power-function exponent of the EMA, {@code > -1}
 * @param sigmaRel the EMA's relative standard deviation, derived from gamma and stored for people reading the manifest
 * @param sha256 the file's SHA-256, lower-case hex
 */
public record Snapshot(String file, long step, double gamma, double sigmaRel, String sha256) {

    /**
     * Validates the file name, the step and gamma. The name must be one the store writes, a plain file name in its
     * directory: a manifest that names a file elsewhere ({@code ../x}, {@code /etc/passwd}) is refused, so nothing
     * outside the directory is ever read or deleted for it.
     */
    public Snapshot {
        requireArgument(file != null && file.matches("snapshot-\\d{12}-ema\\d{1,4}\\.safetensors"), "file",
                "a snapshot file name of the store's own directory (snapshot-<12-digit step>-ema<i>.safetensors)",
                file);
        requireArgument(step >= 1, "step of " + file, ">= 1", step);
        requireArgument(gamma > -1 && Double.isFinite(gamma), "gamma of " + file, "> -1 and finite", gamma);
        requireArgument(sha256 != null, "sha256 of " + file, "non-null", null);
    }

    /** The weighting of the training history this snapshot averages: gamma, ending at its step. */
    public PowerFunctionProfile profile() {
        return new PowerFunctionProfile(gamma, step);
    }
}
