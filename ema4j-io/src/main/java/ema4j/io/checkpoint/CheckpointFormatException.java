package ema4j.io.checkpoint;

import java.nio.file.Path;

/** A checkpoint directory is incomplete, damaged or not a checkpoint; the message names the directory and the problem. */
public final class CheckpointFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * @param directory the checkpoint directory
     * @param problem what is wrong, in words
     */
    public CheckpointFormatException(Path directory, String problem) {
        super(directory + ": " + problem);
    }

    /**
     * @param directory the checkpoint directory
     * @param problem what is wrong, in words
     * @param cause the underlying failure
     */
    public CheckpointFormatException(Path directory, String problem, Throwable cause) {
        super(directory + ": " + problem, cause);
    }
}
