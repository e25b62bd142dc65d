package ema4j.djl;

/**
 * Where an {@link EmaModel} keeps its shadows, and so how it averages them.
 *
 * <p>ema4j's own kernel reads CPU tensors in place and averages them into float32 shadows in host memory at close to
 * memory speed; a tensor on a GPU cannot be read in place, so averaging it into a host shadow copies it over the bus
 * for every update. A shadow on the tensor's own device is averaged there with NDArray arithmetic instead, at the
 * device's speed, and costs device memory (the averaged parameters once more).
 */
public enum ShadowPlacement {
    /**
     * On the model's device when an averaged parameter is on a GPU, in host memory otherwise: each update runs where
     * reading the weights is cheapest. The default.
     */
    AUTO,
    /**
     * In host memory, averaged by ema4j's kernel, whatever the model's device: keeps a GPU's memory for training at
     * the cost of copying a GPU model's weights to the host for each update.
     */
    HOST,
    /**
     * Beside each parameter, on its device, averaged with the engine's NDArray arithmetic (two roundings per element
     * where the host kernel does one fused multiply-add, so the two agree to within float32 rounding, not bit for
     * bit). On a CPU model this is slower than {@link #HOST}; it is there for accelerators.
     */
    MODEL_DEVICE
}
