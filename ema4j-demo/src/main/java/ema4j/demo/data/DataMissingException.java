package ema4j.demo.data;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The Fashion-MNIST files are not where they were looked for. The one-line message lists the missing files and the
 * directory, and says how to get them: install the dataset package or point the command at another directory.
 */
public final class DataMissingException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates the exception for files missing from one directory.
     *
     * @param dir the directory that was searched
     * @param missing the names of the files not found there, as published (with {@code .gz})
     */
    public DataMissingException(Path dir, List<String> missing) {
        super("Fashion-MNIST files missing in " + dir
                + (Files.isDirectory(dir) ? "" : " (the directory does not exist)") + ": "
                + String.join(", ", missing) + " (plain, without .gz, also accepted); run"
                + " 'apt-get install dataset-fashion-mnist' or pass --data DIR");
    }
}
