package ema4j.demo.diffusion;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import java.lang.ref.WeakReference;

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

    /**
     * Runs the garbage collector until it has collected and the JDK has freed the direct buffers of unreachable
     * NDArrays: a native tensor still reading such memory then reads freed memory.
     */
    static void collectGarbage() {
        for (int i = 0; i < 3; i++) {
            WeakReference<Object> marker = new WeakReference<>(new Object());
            while (marker.get() != null) {
                System.gc();
            }
            try {
                Thread.sleep(20);   // the reference handler thread frees the buffers the collection found
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            }
        }
    }
}
