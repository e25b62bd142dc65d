package ema4j.io.checkpoint;

import java.util.List;

/**
 * What a checkpoint holds: written last, so a directory with a valid manifest is complete.
 *
 * @param formatVersion the checkpoint format's version, {@link #FORMAT_VERSION} when written by this library
 * @param library the library and version that wrote it
 * @param step the training step the checkpoint was taken after
 * @param createdAt the time of writing, ISO-8601
 * @param files every file with its size and SHA-256
 * @param tensors every tensor of every safetensors file
 */
public record Manifest(int formatVersion, String library, long step, String createdAt, List<FileEntry> files,
        List<TensorRecord> tensors) {
    /** The format this library writes and reads. */
    public static final int FORMAT_VERSION = 1;
    /** The manifest's file name in a checkpoint directory. */
    public static final String FILE_NAME = "manifest.json";

    /** Copies the lists. */
    public Manifest {
        files = List.copyOf(files);
        tensors = List.copyOf(tensors);
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
        /** Copies the shape. */
        public TensorRecord {
            shape = List.copyOf(shape);
        }
    }
}
