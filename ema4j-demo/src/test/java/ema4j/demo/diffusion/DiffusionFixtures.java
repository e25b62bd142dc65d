package ema4j.demo.diffusion;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;

/** A U-Net with seeded weights for the diffusion tests. */
final class DiffusionFixtures {
    private DiffusionFixtures() {}

    /** A fresh U-Net initialized from seed {@code seed} for batches of {@code batch}. */
    static Block unet(NDManager manager, int seed, int batch) {
        Engine.getInstance().setRandomSeed(seed);
        Block unet = FashionUNet.block();
        unet.initialize(manager, DataType.FLOAT32, new Shape(batch, 1, 28, 28), new Shape(batch));
        return unet;
    }
}
