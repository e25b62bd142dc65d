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
 * DdpmTraining ddpm = new DdpmTraining(NoiseSchedule.ddpm());
 * try (GradientCollector collector = trainer.newGradientCollector()) {
 *     DdpmTraining.NoisedBatch noised = ddpm.noise(batch.getData().singletonOrThrow(), seed + step);
 *     collector.backward(trainer.getLoss().evaluate(noised.labels(), trainer.forward(noised.inputs())));
 * }
 * trainer.step();
 * }</pre>
 *
 * <p>Timesteps and noise of a batch come from a {@link Random} seeded by the caller for that batch; the instance holds
 * no state and is thread-safe.
 */
public final class DdpmTraining {
    private final NoiseSchedule schedule;

    /**
     * Creates the objective over {@code schedule}.
     *
     * @param schedule the forward process
     */
    public DdpmTraining(NoiseSchedule schedule) {
        requireArgument(schedule != null, "schedule", "non-null", null);
        this.schedule = schedule;
    }

    /**
     * The network's inputs and labels for one training batch.
     *
     * @param inputs the noised images (batch, ...) in [-1, 1] and their timesteps (batch), float32
     * @param labels the noise that was added, the shape of the images
     */
    public record NoisedBatch(NDList inputs, NDList labels) {}

    /**
     * Draws timesteps and noise for a batch of clean images from {@code seed} and noises them: the same images and
     * seed give the same draws, so a training loop that derives its random seed from the step resumes exactly.
     *
     * @param images clean images (batch, ...) with pixels in [0, 1], as {@code FashionMnistDataset} gives them
     * @param seed the random seed of this batch's timesteps and noise
     * @return inputs (noised images, timesteps) and labels (the noise), new arrays on the manager of {@code images}
     */
    public NoisedBatch noise(NDArray images, long seed) {
        Random random = new Random(seed);
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
     * The mean squared error between predicted and drawn noise: the value of DJL's L2 loss at weight 1 (its default
     * weight is 1/2), without its host-number factor. DJL's {@code L2Loss} multiplies by its weight with
     * {@code NDArray.mul(Number)}, whose number tensor (over a Java direct buffer the PyTorch engine closes at once)
     * autograd keeps for backward: after a garbage collection between the loss and backward, backward scaled every
     * gradient by whatever the freed memory held.
     *
     * @return a loss named {@code "noiseMse"}
     */
    public static Loss loss() {
        return new NoiseMse();
    }

    /** {@code mean((label - prediction)^2)}, the label reshaped to the prediction, from tensor operations only. */
    private static final class NoiseMse extends Loss {
        NoiseMse() {
            super("noiseMse");
        }

        @Override
        public NDArray evaluate(NDList labels, NDList predictions) {
            NDArray prediction = predictions.singletonOrThrow();
            return labels.singletonOrThrow().reshape(prediction.getShape()).sub(prediction).square().mean();
        }
    }

    /** Prints the schedule. */
    @Override
    public String toString() {
        return "DdpmTraining[" + schedule + "]";
    }
}
