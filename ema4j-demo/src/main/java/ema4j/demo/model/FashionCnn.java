package ema4j.demo.model;

import ai.djl.Model;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.nn.pooling.Pool;
import java.io.IOException;
import java.nio.file.Path;

/**
 * The small CNN with BatchNorm that the example loop trains on Fashion-MNIST: two conv-BN-ReLU-pool stages, a hidden
 * dense layer and a 10-way output. Every call builds a fresh block with the same parameter names, so it serves as the
 * block factory of {@code EmaModel.averagedModel} and of loading saved weights.
 */
public final class FashionCnn {
    /** Input shape of one batch of one image: (batch, channel, height, width). */
    public static final Shape INPUT = new Shape(1, 1, 28, 28);

    private FashionCnn() {}

    /** A fresh, uninitialized block. */
    public static Block block() {
        return new SequentialBlock()
                .add(Conv2d.builder().setKernelShape(new Shape(3, 3)).optPadding(new Shape(1, 1)).setFilters(16).build())
                .add(BatchNorm.builder().build())
                .add(Activation::relu)
                .add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)))
                .add(Conv2d.builder().setKernelShape(new Shape(3, 3)).optPadding(new Shape(1, 1)).setFilters(32).build())
                .add(BatchNorm.builder().build())
                .add(Activation::relu)
                .add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)))
                .add(Blocks.batchFlattenBlock())
                .add(Linear.builder().setUnits(128).build())
                .add(Activation::relu)
                .add(Linear.builder().setUnits(10).build());
    }

    /**
     * Loads saved weights of this CNN ({@code dir/name-0000.params}, as {@code Model.save} writes them) into the
     * block of {@code model}, which must be one of {@link #block()}.
     *
     * @throws IllegalArgumentException when the file holds another architecture
     * @throws IOException when the file cannot be read
     */
    public static void load(Model model, Path dir, String name) throws IOException {
        SavedWeights.load(model, dir, name, "this CNN");
    }
}
