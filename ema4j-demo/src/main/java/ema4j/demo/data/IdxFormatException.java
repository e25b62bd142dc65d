package ema4j.demo.data;

import java.nio.file.Path;

/**
 * An IDX file that cannot be read as the images or labels it claims to be: bad magic number, wrong dimension count,
 * absurd or disagreeing counts, truncated data, broken gzip, or a label outside the classes.
 *
 * <p>The message is one line, {@code "<file>: <problem>"}, so that a person sees which file to fix or fetch again.
 */
public final class IdxFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** The file whose content is wrong; a path, not an open resource. */
    private final transient Path file;

    /**
     * Creates the exception for one problem in one file.
     *
     * @param file the file whose content is wrong
     * @param problem what is wrong, one line, without the file name
     */
    public IdxFormatException(Path file, String problem) {
        this(file, problem, null);
    }

    /**
     * Creates the exception for one problem in one file, found through a lower-level exception.
     *
     * @param file the file whose content is wrong
     * @param problem what is wrong, one line, without the file name
     * @param cause the exception that revealed it (a {@link java.util.zip.ZipException}, for example), or null
     */
    public IdxFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
        this.file = file;
    }

    /**
     * Returns the file whose content is wrong.
     *
     * @return the file as it was given to {@link IdxReader}
     */
    public Path file() {
        return file;
    }
}
