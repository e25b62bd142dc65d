package ema4j.io.posthoc;

import java.nio.file.Path;

/** A snapshot directory or file is damaged, inconsistent or not a snapshot; the message names the path and problem. */
public final class SnapshotFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * @param path the snapshot directory or file
     * @param problem what is wrong, in words
     */
    public SnapshotFormatException(Path path, String problem) {
        super(path + ": " + problem);
    }

    /**
     * @param path the snapshot directory or file
     * @param problem what is wrong, in words
     * @param cause the underlying failure
     */
    public SnapshotFormatException(Path path, String problem, Throwable cause) {
        super(path + ": " + problem, cause);
    }
}
