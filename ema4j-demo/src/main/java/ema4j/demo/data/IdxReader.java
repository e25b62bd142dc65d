package ema4j.demo.data;

import static ema4j.core.internal.Preconditions.requireArgument;

import java.io.BufferedInputStream;
import java.io.Closeable;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;
import java.util.zip.ZipException;

/**
 * Reads the IDX files of MNIST and Fashion-MNIST: unsigned-byte images (magic {@code 0x00000803}: count, rows, cols)
 * and unsigned-byte labels (magic {@code 0x00000801}: count), gzip-compressed when the name ends in {@code .gz}, plain
 * otherwise. The format is described on <a href="http://yann.lecun.com/exdb/mnist/">the MNIST page</a>.
 *
 * <p>Every defect of the content is an {@link IdxFormatException} whose one-line message names the file and the
 * problem; a missing file is a {@link NoSuchFileException}, other I/O failures stay {@link IOException}s. A header is
 * never trusted for an allocation: dimensions must be sane ({@code rows, cols in 1..4096}, at most {@code 1e9} bytes
 * in all) and the bytes it promises must fit the file's size before an array is made. Labels must be class indices in
 * {@code 0..9}. When all items are read, the stream must end right after them (for gzip this also checks the CRC).
 *
 * <p>A {@code limit} reads only the first {@code limit} items and stops there. The methods are stateless and
 * thread-safe.
 */
public final class IdxReader {
    /** Magic number of an unsigned-byte IDX file with three dimensions: images of count x rows x cols. */
    public static final int IMAGES_MAGIC = 0x00000803;
    /** Magic number of an unsigned-byte IDX file with one dimension: labels. */
    public static final int LABELS_MAGIC = 0x00000801;
    /** Largest accepted image side in pixels; anything larger is a corrupt header, not an image. */
    public static final int MAX_SIDE = 4096;
    /** Largest accepted payload, count x rows x cols, in bytes. */
    public static final long MAX_BYTES = 1_000_000_000L;
    /** Number of classes: labels are in {@code 0..CLASS_COUNT - 1}. */
    public static final int CLASS_COUNT = 10;

    /** Deflate cannot expand by more than about 1032:1, so a gzip file of n bytes holds at most this times n. */
    private static final long MAX_DEFLATE_RATIO = 1032;
    private static final int UNSIGNED_BYTE_TYPE = 0x08;
    private static final int BUFFER_SIZE = 1 << 16;

    private IdxReader() {}

    /**
     * Reads all images of an IDX images file.
     *
     * @param file the file, gzip-compressed if its name ends in {@code .gz}
     * @return the images
     * @throws IdxFormatException if the content is not a valid IDX images file
     * @throws NoSuchFileException if the file does not exist
     * @throws IOException if reading fails otherwise
     */
    public static IdxImages readImages(Path file) throws IOException {
        return readImages(file, Integer.MAX_VALUE);
    }

    /**
     * Reads the first {@code limit} images of an IDX images file, or all if there are fewer.
     *
     * @param file the file, gzip-compressed if its name ends in {@code .gz}
     * @param limit the most images to read, {@code >= 0}
     * @return the images, {@code min(limit, count in the header)} of them
     * @throws IdxFormatException if the content is not a valid IDX images file
     * @throws NoSuchFileException if the file does not exist
     * @throws IOException if reading fails otherwise
     */
    public static IdxImages readImages(Path file, int limit) throws IOException {
        requireArgument(limit >= 0, "limit", ">= 0", limit);
        try (IdxStream in = IdxStream.open(file)) {
            return in.readImages(in.readHeader(IMAGES_MAGIC), limit);
        }
    }

    /**
     * Reads all labels of an IDX labels file.
     *
     * @param file the file, gzip-compressed if its name ends in {@code .gz}
     * @return the labels, each in {@code 0..9}
     * @throws IdxFormatException if the content is not a valid IDX labels file or a label is outside {@code 0..9}
     * @throws NoSuchFileException if the file does not exist
     * @throws IOException if reading fails otherwise
     */
    public static IdxLabels readLabels(Path file) throws IOException {
        return readLabels(file, Integer.MAX_VALUE);
    }

    /**
     * Reads the first {@code limit} labels of an IDX labels file, or all if there are fewer.
     *
     * @param file the file, gzip-compressed if its name ends in {@code .gz}
     * @param limit the most labels to read, {@code >= 0}
     * @return the labels, {@code min(limit, count in the header)} of them, each in {@code 0..9}
     * @throws IdxFormatException if the content is not a valid IDX labels file or a label is outside {@code 0..9}
     * @throws NoSuchFileException if the file does not exist
     * @throws IOException if reading fails otherwise
     */
    public static IdxLabels readLabels(Path file, int limit) throws IOException {
        requireArgument(limit >= 0, "limit", ">= 0", limit);
        try (IdxStream in = IdxStream.open(file)) {
            return in.readLabels(in.readHeader(LABELS_MAGIC), limit);
        }
    }

    /**
     * Reads the first {@code limit} images and their labels from a pair of files, after checking that both headers
     * announce the same count, so that a mismatched pair fails before any data is read.
     *
     * @param imagesFile the IDX images file
     * @param labelsFile the IDX labels file that belongs to it
     * @param limit the most items to read, {@code >= 0}
     * @return {@code min(limit, count)} images with their labels
     * @throws IdxFormatException if either file is invalid or the two counts disagree
     * @throws NoSuchFileException if either file does not exist
     * @throws IOException if reading fails otherwise
     */
    public static LabeledImages readLabeledImages(Path imagesFile, Path labelsFile, int limit) throws IOException {
        requireArgument(limit >= 0, "limit", ">= 0", limit);
        try (IdxStream images = IdxStream.open(imagesFile); IdxStream labels = IdxStream.open(labelsFile)) {
            int[] imageDims = images.readHeader(IMAGES_MAGIC);
            int[] labelDims = labels.readHeader(LABELS_MAGIC);
            if (imageDims[0] != labelDims[0]) {
                throw new IdxFormatException(imagesFile, "image and label counts disagree: " + imageDims[0]
                        + " images here but " + labelDims[0] + " labels in " + labelsFile);
            }
            return new LabeledImages(images.readImages(imageDims, limit), labels.readLabels(labelDims, limit));
        }
    }

    /** One open IDX file: knows its name, whether it is gzip, and how many bytes it can plausibly hold. */
    private static final class IdxStream implements Closeable {
        private final Path file;
        private final boolean gzip;
        private final long fileSize;
        private final InputStream in;
        private long headerBytes;

        private IdxStream(Path file, boolean gzip, long fileSize, InputStream in) {
            this.file = file;
            this.gzip = gzip;
            this.fileSize = fileSize;
            this.in = in;
        }

        static IdxStream open(Path file) throws IOException {
            requireArgument(file != null, "file", "non-null", null);
            long size;
            InputStream raw;
            try {
                size = Files.size(file);
                raw = Files.newInputStream(file);
            } catch (NoSuchFileException e) {
                throw new NoSuchFileException(file.toString(), null, "no such IDX file");
            }
            boolean gzip = file.getFileName().toString().endsWith(".gz");
            if (!gzip) {
                return new IdxStream(file, false, size, new BufferedInputStream(raw, BUFFER_SIZE));
            }
            try {
                return new IdxStream(file, true, size, new GZIPInputStream(raw, BUFFER_SIZE));
            } catch (ZipException | EOFException e) {
                raw.close();
                throw new IdxFormatException(file, "not in gzip format although the name ends in .gz ("
                        + e.getMessage() + ")", e);
            } catch (IOException | RuntimeException e) {
                raw.close();
                throw e;
            }
        }

        /** Reads magic and dimensions, checks them, and returns the dimensions (count first). */
        int[] readHeader(int expectedMagic) throws IOException {
            int magic = ByteBuffer.wrap(readExactly(4, "header")).getInt();
            int expectedDims = expectedMagic & 0xFF;
            String kind = expectedMagic == IMAGES_MAGIC ? "images: count, rows, cols" : "labels: count";
            if (magic >>> 8 != UNSIGNED_BYTE_TYPE) {
                throw new IdxFormatException(file, String.format(
                        "bad magic number: expected 0x%08X (unsigned-byte %s), found 0x%08X", expectedMagic, kind,
                        magic));
            }
            if ((magic & 0xFF) != expectedDims) {
                throw new IdxFormatException(file, "wrong dimension count: expected " + expectedDims + " (" + kind
                        + "), found " + (magic & 0xFF) + " (magic " + String.format("0x%08X", magic) + ")");
            }
            ByteBuffer dims = ByteBuffer.wrap(readExactly(4 * expectedDims, "header"));
            int[] result = new int[expectedDims];
            for (int i = 0; i < expectedDims; i++) {
                result[i] = dims.getInt();
            }
            headerBytes = 4 + 4L * expectedDims;
            checkDimensions(result);
            return result;
        }

        private void checkDimensions(int[] dims) {
            if (dims[0] < 0) {
                throw new IdxFormatException(file, "absurd dimensions: count must be >= 0, was " + dims[0]);
            }
            long total = dims[0];
            for (int i = 1; i < dims.length; i++) {
                String name = i == 1 ? "rows" : "cols";
                if (dims[i] < 1 || dims[i] > MAX_SIDE) {
                    throw new IdxFormatException(file,
                            "absurd dimensions: " + name + " must be in 1.." + MAX_SIDE + ", was " + dims[i]);
                }
                total *= dims[i];
            }
            if (total > MAX_BYTES) {
                throw new IdxFormatException(file, "absurd dimensions: count x rows x cols must be <= " + MAX_BYTES
                        + " bytes, was " + total);
            }
            // A plain file's size tells exactly whether the promised bytes are there; check before allocating.
            if (!gzip && total > fileSize - headerBytes) {
                throw truncated(total, fileSize - headerBytes, describe(dims[0], dims));
            }
        }

        IdxImages readImages(int[] dims, int limit) throws IOException {
            int count = Math.min(dims[0], limit);
            byte[] pixels = readPayload(dims, count);
            return new IdxImages(count, dims[1], dims[2], pixels);
        }

        IdxLabels readLabels(int[] dims, int limit) throws IOException {
            int count = Math.min(dims[0], limit);
            byte[] labels = readPayload(dims, count);
            for (int i = 0; i < count; i++) {
                if (labels[i] < 0 || labels[i] >= CLASS_COUNT) {
                    throw new IdxFormatException(file, "label outside 0.." + (CLASS_COUNT - 1) + ": item " + i
                            + " has label " + (labels[i] & 0xFF));
                }
            }
            return new IdxLabels(count, labels);
        }

        /**
         * Reads the first {@code count} items; when that is all of them, checks that the stream ends there. A gzip
         * file is read to its end in any case, since only its trailer's CRC tells whether the items read are intact.
         */
        private byte[] readPayload(int[] dims, int count) throws IOException {
            long itemSize = 1;
            for (int i = 1; i < dims.length; i++) {
                itemSize *= dims[i];
            }
            long needed = count * itemSize;
            if (gzip && needed > fileSize * MAX_DEFLATE_RATIO) {
                throw new IdxFormatException(file, "truncated data: expected " + needed + " bytes of "
                        + describe(count, dims) + ", but a gzip file of " + fileSize + " bytes inflates to at most "
                        + fileSize * MAX_DEFLATE_RATIO);
            }
            byte[] payload = readExactly((int) needed, describe(count, dims));
            if (gzip && count < dims[0]) {
                long rest = (dims[0] - count) * itemSize;
                try {
                    in.skipNBytes(rest);
                } catch (ZipException | EOFException e) {
                    throw corruptGzip(e);
                }
            }
            if ((gzip || count == dims[0]) && readOrGzipError() != -1) {
                throw new IdxFormatException(file, "more data than the header announces (" + describe(count, dims)
                        + "): the header or the file is wrong");
            }
            return payload;
        }

        private byte[] readExactly(int n, String what) throws IOException {
            byte[] bytes;
            try {
                bytes = in.readNBytes(n);
            } catch (ZipException | EOFException e) {
                throw corruptGzip(e);
            }
            if (bytes.length < n) {
                throw truncated(n, bytes.length, what);
            }
            return bytes;
        }

        private int readOrGzipError() throws IOException {
            try {
                return in.read();
            } catch (ZipException | EOFException e) {
                throw corruptGzip(e);
            }
        }

        private IdxFormatException corruptGzip(IOException e) {
            return new IdxFormatException(file, "corrupt gzip data, cut short or damaged (" + e.getMessage() + ")",
                    e);
        }

        private IdxFormatException truncated(long expected, long found, String what) {
            return new IdxFormatException(file,
                    "truncated data: expected " + expected + " bytes of " + what + ", found " + found);
        }

        private static String describe(int count, int[] dims) {
            return dims.length == 3 ? count + " images of " + dims[1] + "x" + dims[2] : count + " labels";
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }
}
