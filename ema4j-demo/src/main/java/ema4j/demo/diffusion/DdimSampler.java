package ema4j.demo.diffusion;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import java.util.Random;

/**
 * Deterministic DDIM sampling (Song, Meng and Ermon 2021, "Denoising Diffusion Implicit Models", equation 12 with
 * eta = 0): from seeded Gaussian noise, a fixed number of steps over evenly spaced timesteps of the schedule, each
 * predicting the clean image from the network's noise estimate and moving to the previous timestep without new noise.
 *
 * <p>The timesteps are {@code i * (T / steps)} for i from {@code steps - 1} down to 0 (the "leading" spacing of the
 * reference implementations); after the last, alphaBar is taken as 1, so the output is the final clean estimate. The
 * clean estimate is clipped to [-1, 1] at every step, as DDPM's sampler does. Images come out as pixels in [0, 1].
 *
 * <p>Immutable; {@link #sample} is as thread-safe as the block's forward pass.
 */
public final class DdimSampler {
    /** The number of steps when none is set. */
    public static final int DEFAULT_STEPS = 50;

    private static final Shape IMAGE = FashionUNet.IMAGES.slice(1);

    private final NoiseSchedule schedule;
    private final int steps;
    private final int batchSize;
    private final int[] timesteps;

    private DdimSampler(Builder builder) {
        schedule = builder.schedule;
        steps = builder.steps;
        batchSize = builder.batchSize;
        timesteps = new int[steps];
        int stride = schedule.steps() / steps;
        for (int i = 0; i < steps; i++) {
            timesteps[i] = (steps - 1 - i) * stride;
        }
    }

    /**
     * Starts a builder: DDPM's schedule, 50 steps, batches of 64 until changed.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Returns the timesteps visited, in the order visited.
     *
     * @return a new array of {@code steps} timesteps, descending, the last 0
     */
    public int[] timesteps() {
        return timesteps.clone();
    }

    /**
     * Draws {@code count} images, {@code batchSize} at a time.
     *
     * <p>The starting noise of image i is the i-th draw of a {@link Random} seeded with {@code seed}, whatever the
     * batch size, so a seed gives the same images on every run (and, up to rounding, with every batch size).
     *
     * @param unet an initialized noise predictor of the shape of {@link FashionUNet}, trained on
     *     {@link DdpmTraining} with this schedule
     * @param manager the manager of the result; the intermediate arrays live and die in sub-managers of it
     * @param count the number of images, at least 1
     * @param seed the random seed of the starting noise
     * @return (count, 1, 28, 28) float32 pixels in [0, 1]
     * @throws IllegalArgumentException if {@code count} is below 1
     */
    public NDArray sample(Block unet, NDManager manager, int count, long seed) {
        requireArgument(count >= 1, "count", ">= 1", count);
        Random random = new Random(seed);
        ParameterStore store = new ParameterStore(manager, false);
        NDList batches = new NDList();
        for (int start = 0; start < count; start += batchSize) {
            int size = Math.min(batchSize, count - start);
            try (NDManager batchManager = manager.newSubManager()) {
                NDArray x = ModelSpace.standardNormal(random, batchManager, new Shape(size).addAll(IMAGE));
                for (int i = 0; i < steps; i++) {
                    int previous = i + 1 < steps ? timesteps[i + 1] : -1;
                    NDArray next = denoise(unet, store, x, timesteps[i], previous);
                    x.close();
                    x = next;
                }
                NDArray pixels = ModelSpace.toPixels(x);
                pixels.attach(manager);
                batches.add(pixels);
            }
        }
        NDArray images = NDArrays.concat(batches);
        batches.close();
        return images;
    }

    /** One DDIM step from timestep {@code t} to {@code previous} (-1 for the clean image), on x's manager. */
    private NDArray denoise(Block unet, ParameterStore store, NDArray x, int t, int previous) {
        NDManager keep = x.getManager();
        try (NDManager scope = keep.newSubManager()) {
            x.tempAttach(scope);
            double alphaBar = schedule.alphaCumprod(t);
            double alphaBarPrevious = previous < 0 ? 1 : schedule.alphaCumprod(previous);
            NDArray time = scope.full(new Shape(x.getShape().get(0)), (float) t, DataType.FLOAT32);
            NDArray predictedNoise = unet.forward(store, new NDList(x, time), false).singletonOrThrow();
            NDArray clean = x.sub(predictedNoise.mul(Math.sqrt(1 - alphaBar))).div(Math.sqrt(alphaBar)).clip(-1, 1);
            NDArray noise = x.sub(clean.mul(Math.sqrt(alphaBar))).div(Math.sqrt(1 - alphaBar));
            NDArray next = clean.mul(Math.sqrt(alphaBarPrevious)).add(noise.mul(Math.sqrt(1 - alphaBarPrevious)));
            next.attach(keep);
            return next;
        }
    }

    /** Prints the schedule, the number of steps and the batch size. */
    @Override
    public String toString() {
        return "DdimSampler[eta=0, steps=" + steps + ", batchSize=" + batchSize + ", " + schedule + "]";
    }

    /** Configures a {@link DdimSampler}; every value is checked where it is set and once more on build. */
    public static final class Builder {
        private NoiseSchedule schedule = NoiseSchedule.ddpm();
        private int steps = DEFAULT_STEPS;
        private int batchSize = 64;

        private Builder() {}

        /**
         * Sets the forward process the network was trained on.
         *
         * @param schedule the schedule
         * @return this builder
         */
        public Builder schedule(NoiseSchedule schedule) {
            requireArgument(schedule != null, "schedule", "non-null", null);
            this.schedule = schedule;
            return this;
        }

        /**
         * Sets the number of network evaluations per image.
         *
         * @param steps in [1, T]
         * @return this builder
         */
        public Builder steps(int steps) {
            requireArgument(steps >= 1, "steps", ">= 1", steps);
            this.steps = steps;
            return this;
        }

        /**
         * Sets how many images go through the network at once.
         *
         * @param batchSize at least 1
         * @return this builder
         */
        public Builder batchSize(int batchSize) {
            requireArgument(batchSize >= 1, "batchSize", ">= 1", batchSize);
            this.batchSize = batchSize;
            return this;
        }

        /**
         * Builds the sampler.
         *
         * @return the sampler
         * @throws IllegalArgumentException if steps exceeds the schedule's T
         */
        public DdimSampler build() {
            requireArgument(steps <= schedule.steps(), "steps", "<= the schedule's steps (" + schedule.steps() + ")",
                    steps);
            return new DdimSampler(this);
        }
    }
}
