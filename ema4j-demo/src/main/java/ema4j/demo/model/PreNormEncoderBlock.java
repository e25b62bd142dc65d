package ema4j.demo.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.nn.transformer.ScaledDotProductAttentionBlock;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * One encoder layer of a Vision Transformer (Dosovitskiy et al. 2021, equations 2 and 3), LayerNorm before each
 * sub-layer (pre-LN, Xiong et al. 2020): {@code x + MSA(LN(x))}, then {@code x + MLP(LN(x))}, the MLP a GELU
 * between two linear layers. Dropout follows the attention and each linear layer of the MLP.
 *
 * <p>(batch, tokens, width) to the same shape. DJL's {@code TransformerEncoderBlock} is not used: it normalizes after
 * the residual with BatchNorm; its {@link ScaledDotProductAttentionBlock} is.
 */
final class PreNormEncoderBlock extends AbstractBlock {
    private final LayerNorm attentionNorm;
    private final ScaledDotProductAttentionBlock attention;
    private final Dropout attentionDropout;
    private final LayerNorm mlpNorm;
    private final SequentialBlock mlp;

    /**
     * @param width the size of a token; {@code heads} must divide it
     * @param heads the number of attention heads
     * @param mlpWidth the hidden size of the MLP
     * @param dropout the rate of every dropout, the attention probabilities' included
     */
    PreNormEncoderBlock(int width, int heads, int mlpWidth, float dropout) {
        attentionNorm = addChildBlock("attentionNorm", LayerNorm.builder().axis(2).build());
        attention = addChildBlock("attention", ScaledDotProductAttentionBlock.builder().setEmbeddingSize(width)
                .setHeadCount(heads).optAttentionProbsDropoutProb(dropout).build());
        attentionDropout = addChildBlock("attentionDropout", Dropout.builder().optRate(dropout).build());
        mlpNorm = addChildBlock("mlpNorm", LayerNorm.builder().axis(2).build());
        mlp = addChildBlock("mlp", new SequentialBlock()
                .add(Linear.builder().setUnits(mlpWidth).build())
                .add(Activation::gelu)
                .add(Dropout.builder().optRate(dropout).build())
                .add(Linear.builder().setUnits(width).build())
                .add(Dropout.builder().optRate(dropout).build()));
    }

    @Override
    protected NDList forwardInternal(ParameterStore store, NDList inputs, boolean training,
            PairList<String, Object> params) {
        NDArray x = inputs.singletonOrThrow();
        NDList attended = attentionDropout.forward(store,
                attention.forward(store, attentionNorm.forward(store, inputs, training), training), training);
        x = x.add(attended.singletonOrThrow());
        NDList transformed = mlp.forward(store, mlpNorm.forward(store, new NDList(x), training), training);
        return new NDList(x.add(transformed.singletonOrThrow()));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        for (var child : getChildren().values()) {
            child.initialize(manager, dataType, inputShapes);
        }
    }
}
