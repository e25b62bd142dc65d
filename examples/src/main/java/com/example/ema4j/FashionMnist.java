package com.example.ema4j;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.dataset.ArrayDataset;
import java.io.BufferedInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPInputStream;

/**
 * Fashion-MNIST from its gzip IDX files as a DJL dataset: images of shape (1, 28, 28) as float32 in [0, 1], labels
 * as float32 class indices 0..9.
 *
 * <p>An IDX file is a big-endian int magic number ({@code 0x803} for images, {@code 0x801} for labels), one int per
 * dimension (count; for images also rows and columns), then one unsigned byte per pixel or label.
 */
public final class FashionMnist {
    private static final int IMAGES = 0x803;
    private static final int LABELS = 0x801;
    private static final int SIDE = 28;

    private FashionMnist() {}

    /** The training set ({@code train-*-ubyte.gz} in {@code dir}), shuffled, in batches of {@code batchSize}. */
    public static ArrayDataset train(NDManager manager, Path dir, int batchSize) throws IOException {
        return dataset(manager, dir, "train", batchSize, true);
    }

    /** The test set ({@code t10k-*-ubyte.gz} in {@code dir}), in file order, in batches of {@code batchSize}. */
    public static ArrayDataset test(NDManager manager, Path dir, int batchSize) throws IOException {
        return dataset(manager, dir, "t10k", batchSize, false);
    }

    private static ArrayDataset dataset(NDManager manager, Path dir, String prefix, int batchSize, boolean shuffle)
            throws IOException {
        byte[] pixels = read(dir.resolve(prefix + "-images-idx3-ubyte.gz"), IMAGES, 3);
        byte[] labels = read(dir.resolve(prefix + "-labels-idx1-ubyte.gz"), LABELS, 1);
        int count = labels.length;
        if (pixels.length != count * SIDE * SIDE) {
            throw new IOException(dir + ": " + prefix + " images must be " + count + " of 28x28 pixels, were "
                    + pixels.length + " bytes");
        }
        float[] images = new float[pixels.length];
        for (int i = 0; i < pixels.length; i++) {
            images[i] = (pixels[i] & 0xFF) / 255f;
        }
        float[] classes = new float[count];
        for (int i = 0; i < count; i++) {
            classes[i] = labels[i] & 0xFF;
        }
        return new ArrayDataset.Builder()
                .setData(manager.create(images, new Shape(count, 1, SIDE, SIDE)))
                .optLabels(manager.create(classes))
                .setSampling(batchSize, shuffle)
                .build();
    }

    /** The bytes after the header of an IDX file of unsigned bytes with {@code dimensions} dimensions. */
    private static byte[] read(Path file, int magic, int dimensions) throws IOException {
        try (DataInputStream in = new DataInputStream(
                new BufferedInputStream(new GZIPInputStream(Files.newInputStream(file))))) {
            int found = in.readInt();
            if (found != magic) {
                throw new IOException(file + ": magic number must be 0x" + Integer.toHexString(magic) + ", was 0x"
                        + Integer.toHexString(found));
            }
            long size = 1;
            for (int d = 0; d < dimensions; d++) {
                size *= in.readInt();
            }
            byte[] bytes = new byte[Math.toIntExact(size)];
            in.readFully(bytes);
            return bytes;
        }
    }
}
