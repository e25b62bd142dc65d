package ema4j.demo.model;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;

/**
 * A small Vision Transformer for Fashion-MNIST (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words"): 7x7
 * patches of a 28x28 image make 16 tokens of width 64, a learned class token and a learned position embedding,
 * four pre-LN encoder layers with 4 attention heads and an MLP of width 128, a final LayerNorm, and a 10-way linear
 * layer on the class token. About 139,000 parameters; one training step (forward, backward, Adam) at batch 128 took
 * about 0.06 s on 2 CPU cores with PyTorch 2.7.1 (one noisy measurement).
 *
 * <p>The block is a {@link SequentialBlock} whose last child is the class layer, so
 * {@code ema4j.demo.metric.ClassifierFeatures} can read the 64 features of the normalized class token. Every call
 * builds a fresh block with the same parameter names.
 */
public final class FashionVit {
    /** Input shape of one batch of one image: (batch, channel, height, width). */
    public static final Shape INPUT = new Shape(1, 1, 28, 28);

    private static final int PATCH = 7;
    private static final int TOKENS = (28 / PATCH) * (28 / PATCH);
    private static final int WIDTH = 64;
    private static final int DEPTH = 4;
    private static final int HEADS = 4;
    private static final int MLP_WIDTH = 128;

    private FashionVit() {}

    /** A fresh, uninitialized block without dropout: (batch, 1, 28, 28) images to (batch, 10) class scores. */
    public static Block block() {
        return block(0f);
    }

    /**
     * A fresh, uninitialized block with dropout at {@code dropout} on the tokens, the attention probabilities, after
     * the attention and in the MLPs (ViT trained on ImageNet-1k from scratch used 0.1).
     *
     * @param dropout the rate, in [0, 1)
     * @return (batch, 1, 28, 28) images to (batch, 10) class scores
     * @throws IllegalArgumentException if {@code dropout} is outside [0, 1)
     */
    public static Block block(float dropout) {
        requireArgument(dropout >= 0 && dropout < 1, "dropout", "in [0, 1)", dropout);
        SequentialBlock net = new SequentialBlock().add(new PatchEmbedding(PATCH, TOKENS, WIDTH, dropout));
        for (int i = 0; i < DEPTH; i++) {
            net.add(new PreNormEncoderBlock(WIDTH, HEADS, MLP_WIDTH, dropout));
        }
        return net.add(LayerNorm.builder().axis(2).build())
                .add(LambdaBlock.singleton(tokens -> tokens.get(":, 0, :"), "classToken"))
                .add(Linear.builder().setUnits(10).build());
    }
}
