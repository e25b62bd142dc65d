package ema4j.demo.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Parameter;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.norm.Dropout;
import ai.djl.training.ParameterStore;
import ai.djl.training.initializer.TruncatedNormalInitializer;
import ai.djl.util.PairList;

/**
 * The input of a Vision Transformer (Dosovitskiy et al. 2021, section 3.1): non-overlapping square patches projected
 * by a strided convolution, a learned class token in front, a learned position embedding added, then dropout.
 *
 * <p>(batch, channels, height, width) images to (batch, 1 + patches, width) tokens, the class token first.
 */
final class PatchEmbedding extends AbstractBlock {
    /** ViT's initialization of the class token and the position embedding: a normal of this deviation, truncated. */
    private static final float TOKEN_STDDEV = 0.02f;

    private final Conv2d projection;
    private final Dropout dropout;
    private final Parameter classToken;
    private final Parameter positions;
    private final int width;

    /**
     * @param patchSize the side of a patch in pixels; it must divide the image's sides
     * @param tokens the number of patches of one image
     * @param width the size of a token
     * @param dropout the rate of the dropout on the tokens
     */
    PatchEmbedding(int patchSize, int tokens, int width, float dropout) {
        this.width = width;
        Shape patch = new Shape(patchSize, patchSize);
        projection = addChildBlock("projection", Conv2d.builder().setKernelShape(patch).optStride(patch)
                .setFilters(width).build());
        this.dropout = addChildBlock("dropout", Dropout.builder().optRate(dropout).build());
        classToken = addParameter(tokenParameter("classToken", new Shape(1, 1, width)));
        positions = addParameter(tokenParameter("positionEmbedding", new Shape(1, tokens + 1, width)));
    }

    private static Parameter tokenParameter(String name, Shape shape) {
        return Parameter.builder().setName(name).setType(Parameter.Type.WEIGHT).optShape(shape)
                .optInitializer(new TruncatedNormalInitializer(TOKEN_STDDEV)).build();
    }

    @Override
    protected NDList forwardInternal(ParameterStore store, NDList inputs, boolean training,
            PairList<String, Object> params) {
        NDArray features = projection.forward(store, inputs, training).singletonOrThrow();
        long batch = features.getShape().get(0);
        NDArray patches = features.reshape(batch, width, -1).transpose(0, 2, 1);
        NDArray cls = store.getValue(classToken, features.getDevice(), training).broadcast(batch, 1, width);
        // an op's result belongs to its first operand's manager: the parameter's, which lives as long as the model,
        // and the concatenation would keep every step's graph; the batch's manager closes with the batch
        cls.attach(features.getManager());
        NDArray tokens = NDArrays.concat(new NDList(cls, patches), 1)
                .add(store.getValue(positions, features.getDevice(), training));
        return dropout.forward(store, new NDList(tokens), training);
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {new Shape(inputShapes[0].get(0), positions.getShape().get(1), width)};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        projection.initialize(manager, dataType, inputShapes);
        dropout.initialize(manager, dataType, getOutputShapes(inputShapes));
    }
}
