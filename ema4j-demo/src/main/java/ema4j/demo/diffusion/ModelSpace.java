package ema4j.demo.diffusion;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import java.util.Random;

/**
 * Where the diffusion model works: pixels scaled from the dataset's [0, 1] to [-1, 1] (Ho et al. 2020, section 3.3)
 * and back for the samples, and standard Gaussian noise from a seeded generator.
 */
final class ModelSpace {
    private ModelSpace() {}

    /** Pixels in [0, 1] to the model's [-1, 1]. */
    static NDArray toModel(NDArray pixels) {
        return pixels.mul(2).sub(1);
    }

    /** The model's [-1, 1] to pixels, clipped to [0, 1]. */
    static NDArray toPixels(NDArray x) {
        return x.add(1).div(2).clip(0, 1);
    }

    /**
     * Standard Gaussian noise drawn from {@code random} in Java, so that a seed gives the same numbers on every
     * engine and device.
     */
    static NDArray standardNormal(Random random, NDManager manager, Shape shape) {
        float[] values = new float[Math.toIntExact(shape.size())];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextGaussian();
        }
        return manager.create(values, shape);
    }
}
