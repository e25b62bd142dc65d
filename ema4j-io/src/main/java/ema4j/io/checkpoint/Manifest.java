package ema4j.io.checkpoint;

import java.util.List;

/**
 * What a checkpoint holds: written last, so a directory with a valid manifest is complete.
 *
 * @param formatVersion the checkpoint format's version, {@link #FORMAT_VERSION} when written by this library
 * @param library the library and version that wrote it
 * @param step the training step the checkpoint was taken after
 * @param runId the run the checkpoint belongs to: a run resumed from it keeps the id, so the checkpoints of one
 *     run share it, and a store never prunes or replaces the checkpoints of another run
 * @param createdAt the time of writing, ISO-8601
 * @param files every file with its size and SHA-256
 * @param tensors every tensor of every safetensors file
 */
public record Manifest(int formatVersion, String library, long step, String runId, String createdAt, List<FileEntry> files,
        List<TensorRecord> tensors) {
    /** The format this library writes and reads. */
    public static final int FORMAT_VERSION = 2;
    /** The manifest's file name in a checkpoint directory. */
    public static final String FILE_NAME = "manifest.json";

    /** The form of a run id: 1 to 64 lower-case letters, digits and dashes. */
    public static final java.util.regex.Pattern RUN_ID = java.util.regex.Pattern.compile("[a-z0-9][a-z0-9-]{0,63}");

    /** Copies the lists; a missing list stays null, for {@link Checkpoint#open} to refuse by name. */
    public Manifest {
        files = files == null ? null : java.util.Collections.unmodifiableList(new java.util.ArrayList<>(files));
        tensors = tensors == null ? null : java.util.Collections.unmodifiableList(new java.util.ArrayList<>(tensors));
    }

    /**
     * One file of a checkpoint.
     *
     * @param name file name within the checkpoint directory
     * @param bytes its size
     * @param sha256 its SHA-256, lower-case hex
     */
    public record FileEntry(String name, long bytes, String sha256) {}

    /**
     * One tensor of a safetensors file of the checkpoint.
     *
     * @param file the safetensors file's name
     * @param name the tensor's name
     * @param dtype its safetensors dtype, e.g. F32
     * @param shape its shape
     */
    public record TensorRecord(String file, String name, String dtype, List<Long> shape) {
        /** Copies the shape; a missing one stays null, for {@link Checkpoint#open} to refuse by name. */
        public TensorRecord {
            shape = shape == null ? null : java.util.Collections.unmodifiableList(new java.util.ArrayList<>(shape));
        }
    }
}
