package ema4j.io.safetensors;

/**
 * A safetensors file that breaks the format: its message names the file and what is wrong with it, e.g.
 * {@code model.safetensors: tensor 'w' has data_offsets [0, 12] but dtype F32 and shape [2, 2] need 16 bytes}.
 *
 * <p>Unchecked because a broken file is not something a caller can retry; an {@link java.io.IOException} still
 * means the file system failed.
 */
public final class SafetensorsFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * A format error in {@code file}.
     *
     * @param file the file as the caller named it
     * @param problem what is wrong, without the file name
     */
    public SafetensorsFormatException(Object file, String problem) {
        super(file + ": " + problem);
    }
}
