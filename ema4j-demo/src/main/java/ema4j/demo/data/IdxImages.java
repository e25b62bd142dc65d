package ema4j.demo.data;

import static ema4j.core.internal.Preconditions.requireArgument;

/**
 * Grey-scale images read from an IDX file: {@code count} images of {@code rows x cols} unsigned bytes, row-major,
 * one image after the other.
 *
 * <p>The pixel array is shared, not copied, because a training set is tens of megabytes; treat it as read-only.
 *
 * @param count the number of images, {@code >= 0}
 * @param rows the height of every image in pixels, {@code >= 1}
 * @param cols the width of every image in pixels, {@code >= 1}
 * @param pixels {@code count * rows * cols} unsigned bytes (read with {@code & 0xFF}), 0 is background
 */
public record IdxImages(int count, int rows, int cols, byte[] pixels) {

    /** Checks that the pixel array holds exactly {@code count} images of {@code rows x cols}. */
    public IdxImages {
        requireArgument(count >= 0, "count", ">= 0", count);
        requireArgument(rows >= 1, "rows", ">= 1", rows);
        requireArgument(cols >= 1, "cols", ">= 1", cols);
        requireArgument(pixels != null, "pixels", "non-null", null);
        requireArgument((long) count * rows * cols == pixels.length,
                "pixels.length", "count * rows * cols = " + (long) count * rows * cols, pixels.length);
    }

    /**
     * Returns the number of pixels in one image.
     *
     * @return {@code rows * cols}
     */
    public int imageSize() {
        return rows * cols;
    }
}
