package ema4j.demo.data;

import static ema4j.core.internal.Preconditions.requireArgument;
import static ema4j.core.internal.Preconditions.requireState;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.dataset.RandomAccessDataset;
import ai.djl.training.dataset.Record;
import ai.djl.util.Progress;
import java.io.IOException;
import java.util.Objects;

/**
 * Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017: 28x28 grey-scale pictures of clothing in 10 classes) as a DJL
 * {@link RandomAccessDataset}, read from local IDX files with {@link IdxReader}.
 *
 * <p>A record's data is one float32 array of shape (1, 28, 28), the pixels scaled to [0, 1]; its label is one float32
 * array of shape (1) holding the class index 0..9. The pixels stay in memory as bytes (47 MB for the training part)
 * and each record's arrays are made on the manager passed to {@link #get}.
 *
 * <p><b>Reproducible order.</b> With {@code setSampling(batchSize, true)} DJL's {@code RandomSampler} shuffles the
 * indices once per {@link #getData(NDManager)} call, drawing from {@code ai.djl.util.RandomUtils.RANDOM}, the one
 * {@link java.util.Random} that all of DJL shares. {@code Engine.getInstance().setRandomSeed(seed)} reseeds it (the
 * PyTorch engine seeds torch too). So call {@code setRandomSeed(seed)} before the first {@code getData}: the orders
 * of all epochs then repeat from run to run, provided the same other draws from {@code RandomUtils} happen in between
 * (random splits, random transforms). For an order that depends on nothing else, reseed with, say,
 * {@code seed + epoch} right before each epoch's {@code getData}.
 *
 * <p>{@link #prepare} reads the files once; afterwards {@link #get} only reads shared arrays and is safe to call from
 * several threads.
 */
public final class FashionMnistDataset extends RandomAccessDataset {
    private static final float MAX_PIXEL = 255f;

    private final FashionMnistFiles files;
    private final Split split;
    private volatile LabeledImages items;

    private FashionMnistDataset(Builder builder) {
        super(builder);
        this.files = builder.files;
        this.split = builder.split;
    }

    /**
     * Starts a builder; {@code files}, {@code split} and the sampling must be set before {@code build()}.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Reads the images and labels of this split, only the first {@code limit} when a limit is set. Later calls do
     * nothing.
     *
     * @param progress ignored: reading takes about a second
     * @throws IOException if a file cannot be read
     * @throws IdxFormatException if a file is not valid Fashion-MNIST IDX data
     */
    @Override
    public synchronized void prepare(Progress progress) throws IOException {
        if (items == null) {
            int toRead = (int) Math.min(limit, Integer.MAX_VALUE);
            items = IdxReader.readLabeledImages(files.images(split), files.labels(split), toRead);
        }
    }

    /**
     * Returns one image and its label as new arrays on {@code manager}.
     *
     * @param manager the manager that will own the two arrays
     * @param index the item, in {@code [0, size())}
     * @return data: float32 (1, rows, cols) in [0, 1]; labels: float32 (1) holding the class 0..9
     * @throws IllegalStateException if {@link #prepare} has not run
     * @throws IndexOutOfBoundsException if {@code index} is outside {@code [0, size())}
     */
    @Override
    public Record get(NDManager manager, long index) {
        LabeledImages prepared = prepared();
        int i = (int) Objects.checkIndex(index, size());
        IdxImages images = prepared.images();
        int imageSize = images.imageSize();
        byte[] pixels = images.pixels();
        float[] scaled = new float[imageSize];
        for (int p = 0, offset = i * imageSize; p < imageSize; p++) {
            scaled[p] = (pixels[offset + p] & 0xFF) / MAX_PIXEL;
        }
        NDArray image = manager.create(scaled, new Shape(1, images.rows(), images.cols()));
        NDArray label = manager.create(new float[] {prepared.labels().labels()[i]}, new Shape(1));
        return new Record(new NDList(image), new NDList(label));
    }

    /**
     * Returns the number of items read by {@link #prepare}.
     *
     * @return the number of images, at most the limit
     * @throws IllegalStateException if {@link #prepare} has not run
     */
    @Override
    protected long availableSize() {
        return prepared().count();
    }

    /**
     * Returns which part of Fashion-MNIST this is.
     *
     * @return the split
     */
    public Split split() {
        return split;
    }

    /** Prints the split, the limit, the two files and, once prepared, the size. */
    @Override
    public String toString() {
        return "FashionMnistDataset[split=" + split + ", limit=" + (limit == Long.MAX_VALUE ? "none" : limit)
                + ", images=" + files.images(split) + ", labels=" + files.labels(split)
                + (items == null ? ", not prepared" : ", size=" + size()) + "]";
    }

    private LabeledImages prepared() {
        LabeledImages prepared = items;
        requireState(prepared != null, "FashionMnistDataset " + split + " is not prepared: call prepare() first");
        return prepared;
    }

    /** Configures a {@link FashionMnistDataset}: the files, the split, and DJL's sampling, limit and batchifiers. */
    public static final class Builder extends BaseBuilder<Builder> {
        private FashionMnistFiles files;
        private Split split;

        private Builder() {}

        /**
         * Sets where the dataset files are.
         *
         * @param files the located files, e.g. {@code FashionMnistFiles.locateDefault()}
         * @return this builder
         */
        public Builder files(FashionMnistFiles files) {
            requireArgument(files != null, "files", "non-null", null);
            this.files = files;
            return this;
        }

        /**
         * Sets which part to read.
         *
         * @param split training or test part
         * @return this builder
         */
        public Builder split(Split split) {
            requireArgument(split != null, "split", "non-null", null);
            this.split = split;
            return this;
        }

        /**
         * Keeps only the first {@code limit} items; {@link #prepare} then reads only those from the files. The same as
         * DJL's {@link #optLimit(long)}.
         *
         * @param limit the number of items to keep, {@code >= 1}
         * @return this builder
         */
        public Builder limit(long limit) {
            requireArgument(limit >= 1, "limit", ">= 1", limit);
            return optLimit(limit);
        }

        /**
         * Builds the dataset; it reads nothing until {@link FashionMnistDataset#prepare} or {@code getData}.
         *
         * @return the dataset
         * @throws IllegalArgumentException if files, split or sampling is unset, or the limit is below 1
         */
        public FashionMnistDataset build() {
            requireArgument(files != null, "files", "set", null);
            requireArgument(split != null, "split", "set", null);
            requireArgument(sampler != null, "sampling", "set with setSampling(batchSize, shuffle)", null);
            requireArgument(limit >= 1, "limit", ">= 1", limit);
            return new FashionMnistDataset(this);
        }

        /** {@inheritDoc} */
        @Override
        protected Builder self() {
            return this;
        }
    }
}
