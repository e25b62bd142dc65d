package ema4j.demo.diffusion;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.loss.Loss;
import java.util.Random;

/**
 * The training objective of DDPM (Ho et al. 2020, algorithm 1, the "simple" loss): for each clean image draw a
 * timestep uniformly from [0, T) and standard Gaussian noise, noise the image to that step, and regress the noise with
 * the mean squared error.
 *
 * <p>It fits a plain DJL {@code Trainer} step: {@link #noise} turns a batch of images into the network's inputs and
 * the noise as labels, and {@link #loss()} is the loss of the trainer's configuration:
 * <pre>{@code
 * DdpmTraining ddpm = new DdpmTraining(NoiseSchedule.ddpm(), seed);
 * try (GradientCollector collector = trainer.newGradientCollector()) {
 *     DdpmTraining.NoisedBatch noised = ddpm.noise(batch.getData().singletonOrThrow());
 *     collector.backward(trainer.getLoss().evaluate(noised.labels(), trainer.forward(noised.inputs())));
 * }
 * trainer.step();
 * }</pre>
 *
 * <p>Timesteps and noise come from one {@link Random} seeded at construction, so a seed and a sequence of batches
 * give the same draws on every run. Not thread-safe: one instance per training loop.
 */
public final class DdpmTraining {
    private final NoiseSchedule schedule;
    private final long seed;
    private final Random random;

    /**
     * Creates the objective over {@code schedule}, drawing from a generator seeded with {@code seed}.
     *
     * @param schedule the forward process
     * @param seed the seed of the timesteps and the noise
     */
    public DdpmTraining(NoiseSchedule schedule, long seed) {
        requireArgument(schedule != null, "schedule", "non-null", null);
        this.schedule = schedule;
        this.seed = seed;
        this.random = new Random(seed);
    }

    /**
     * The network's inputs and labels for one training batch.
     *
     * @param inputs the noised images (batch, ...) in [-1, 1] and their timesteps (batch), float32
     * @param labels the noise that was added, the shape of the images
     */
    public record NoisedBatch(NDList inputs, NDList labels) {}

    /**
     * Draws timesteps and noise for a batch of clean images and noises them.
     *
     * @param images clean images (batch, ...) with pixels in [0, 1], as {@code FashionMnistDataset} gives them
     * @return inputs (noised images, timesteps) and labels (the noise), new arrays on the manager of {@code images}
     */
    public NoisedBatch noise(NDArray images) {
        int batch = Math.toIntExact(images.getShape().get(0));
        float[] timesteps = new float[batch];
        for (int i = 0; i < batch; i++) {
            timesteps[i] = random.nextInt(schedule.steps());
        }
        NDArray t = images.getManager().create(timesteps);
        NDArray noise = ModelSpace.standardNormal(random, images.getManager(), images.getShape());
        NDArray noised = schedule.qSample(ModelSpace.toModel(images), t, noise);
        return new NoisedBatch(new NDList(noised, t), new NDList(noise));
    }

    /**
     * The mean squared error between predicted and drawn noise, DJL's L2 loss at weight 1 (its default weight is 1/2).
     *
     * @return a loss named {@code "noiseMse"}
     */
    public static Loss loss() {
        return Loss.l2Loss("noiseMse", 1f);
    }

    /** Prints the schedule and the seed. */
    @Override
    public String toString() {
        return "DdpmTraining[" + schedule + ", seed=" + seed + "]";
    }
}
