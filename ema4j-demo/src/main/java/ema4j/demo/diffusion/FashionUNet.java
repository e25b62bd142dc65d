package ema4j.demo.diffusion;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.LambdaBlock;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * A small U-Net (Ronneberger et al. 2015) that predicts the noise in a noised 28x28 image, the network of DDPM (Ho et
 * al. 2020, appendix B) cut down: a sinusoidal embedding of the timestep (Vaswani et al. 2017) through an MLP, added
 * in every residual block; residual blocks with GroupNorm and SiLU at 28x28 (16 channels), 14x14 (32) and 7x7 (64,
 * two blocks); strided 3x3 convolutions down, nearest-neighbour upsampling and a 3x3 convolution up, the skip
 * connections concatenated; no attention. About 305,000 parameters; the channels are kept low at 28x28, where a
 * channel costs the most computation: one training step (forward, backward, Adam) at batch 128 took about 0.24 s on 2
 * CPU cores with PyTorch 2.7.1 (one noisy measurement).
 *
 * <p>Inputs: the noised images (batch, 1, 28, 28) and their timesteps (batch), float32 holding integers in [0, T);
 * output: the predicted noise (batch, 1, 28, 28). Every {@link #block()} has the same parameter names.
 */
public final class FashionUNet extends AbstractBlock {
    /** Input shape of one batch of one noised image: (batch, channel, height, width). */
    public static final Shape IMAGES = new Shape(1, 1, 28, 28);
    /** Input shape of the timesteps of one batch of one image: (batch). */
    public static final Shape TIMESTEPS = new Shape(1);

    private static final int SINUSOID_WIDTH = 32;
    private static final int TIME_WIDTH = 128;
    /** Channels at 28x28, 14x14 and 7x7. */
    private static final int CHANNELS_28 = 16;
    private static final int CHANNELS_14 = 32;
    private static final int CHANNELS_7 = 64;
    private static final int GROUPS = 8;
    /** The longest period of the sinusoids, in timesteps, as in the Transformer. */
    private static final double MAX_PERIOD = 10_000;

    private final Block timeMlp;
    private final Block stem;
    private final TimeResidualBlock down28;
    private final Block downsample28;
    private final TimeResidualBlock down14;
    private final Block downsample14;
    private final TimeResidualBlock middle;
    private final TimeResidualBlock middleSecond;
    private final Block upsample7;
    private final TimeResidualBlock up14;
    private final Block upsample14;
    private final TimeResidualBlock up28;
    private final GroupNorm outputNorm;
    private final Block outputConv;

    private FashionUNet() {
        timeMlp = addChildBlock("timeMlp", new SequentialBlock()
                .add(Linear.builder().setUnits(TIME_WIDTH).build())
                .add(Silu::of)
                .add(Linear.builder().setUnits(TIME_WIDTH).build()));
        stem = addChildBlock("stem", conv3x3(CHANNELS_28, 1));
        down28 = addChildBlock("down28", new TimeResidualBlock(CHANNELS_28, GROUPS, false));
        downsample28 = addChildBlock("downsample28", conv3x3(CHANNELS_14, 2));
        down14 = addChildBlock("down14", new TimeResidualBlock(CHANNELS_14, GROUPS, false));
        downsample14 = addChildBlock("downsample14", conv3x3(CHANNELS_7, 2));
        middle = addChildBlock("middle", new TimeResidualBlock(CHANNELS_7, GROUPS, false));
        middleSecond = addChildBlock("middleSecond", new TimeResidualBlock(CHANNELS_7, GROUPS, false));
        upsample7 = addChildBlock("upsample7", upsample(CHANNELS_14));
        up14 = addChildBlock("up14", new TimeResidualBlock(CHANNELS_14, GROUPS, true));
        upsample14 = addChildBlock("upsample14", upsample(CHANNELS_28));
        up28 = addChildBlock("up28", new TimeResidualBlock(CHANNELS_28, GROUPS, true));
        outputNorm = addChildBlock("outputNorm", new GroupNorm(GROUPS));
        outputConv = addChildBlock("outputConv", conv3x3(1, 1));
    }

    /**
     * A fresh, uninitialized U-Net; initialize it with {@link #IMAGES} and {@link #TIMESTEPS}.
     *
     * @return (noised images, timesteps) to predicted noise
     */
    public static Block block() {
        return new FashionUNet();
    }

    /** A 3x3 convolution that keeps the size at stride 1 and halves it at stride 2. */
    static Conv2d conv3x3(int channels, int stride) {
        return Conv2d.builder().setKernelShape(new Shape(3, 3)).optPadding(new Shape(1, 1))
                .optStride(new Shape(stride, stride)).setFilters(channels).build();
    }

    private static Block upsample(int channels) {
        return new SequentialBlock()
                .add(LambdaBlock.singleton(x -> x.repeat(2, 2).repeat(3, 2), "nearest2x"))
                .add(conv3x3(channels, 1));
    }

    /**
     * The Transformer's sinusoidal position encoding of the timesteps: sines then cosines of {@code t} at
     * frequencies from 1 down to 1/10000, geometrically spaced.
     */
    static NDArray sinusoids(NDArray timesteps, int width) {
        int half = width / 2;
        float[] frequencies = new float[half];
        for (int k = 0; k < half; k++) {
            frequencies[k] = (float) Math.exp(-Math.log(MAX_PERIOD) * k / half);
        }
        NDArray phases = timesteps.toType(DataType.FLOAT32, false).reshape(-1, 1)
                .mul(timesteps.getManager().create(frequencies).reshape(1, half));
        return NDArrays.concat(new NDList(phases.sin(), phases.cos()), 1);
    }

    @Override
    protected NDList forwardInternal(ParameterStore store, NDList inputs, boolean training,
            PairList<String, Object> params) {
        NDArray time = timeMlp.forward(store, new NDList(sinusoids(inputs.get(1), SINUSOID_WIDTH)), training)
                .singletonOrThrow();
        NDArray skip28 = residual(store, down28, forward(store, stem, inputs.get(0), training), time, training);
        NDArray skip14 = residual(store, down14, forward(store, downsample28, skip28, training), time, training);
        NDArray h = residual(store, middle, forward(store, downsample14, skip14, training), time, training);
        h = residual(store, middleSecond, h, time, training);
        h = residual(store, up14, forward(store, upsample7, h, training).concat(skip14, 1), time, training);
        h = residual(store, up28, forward(store, upsample14, h, training).concat(skip28, 1), time, training);
        h = Silu.of(forward(store, outputNorm, h, training));
        return new NDList(forward(store, outputConv, h, training));
    }

    private static NDArray forward(ParameterStore store, Block block, NDArray x, boolean training) {
        return block.forward(store, new NDList(x), training).singletonOrThrow();
    }

    private static NDArray residual(ParameterStore store, Block block, NDArray x, NDArray time, boolean training) {
        return block.forward(store, new NDList(x, time), training).singletonOrThrow();
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        return new Shape[] {inputShapes[0]};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        long batch = inputShapes[0].get(0);
        Shape time = initialize(manager, dataType, timeMlp, new Shape(batch, SINUSOID_WIDTH));
        Shape top = initialize(manager, dataType, stem, inputShapes[0]);
        Shape skip28 = initialize(manager, dataType, down28, top, time);
        Shape skip14 = initialize(manager, dataType, down14,
                initialize(manager, dataType, downsample28, skip28), time);
        Shape h = initialize(manager, dataType, middle, initialize(manager, dataType, downsample14, skip14), time);
        h = initialize(manager, dataType, middleSecond, h, time);
        h = initialize(manager, dataType, up14, concat(initialize(manager, dataType, upsample7, h), skip14), time);
        h = initialize(manager, dataType, up28, concat(initialize(manager, dataType, upsample14, h), skip28), time);
        initialize(manager, dataType, outputConv, initialize(manager, dataType, outputNorm, h));
    }

    private static Shape initialize(NDManager manager, DataType dataType, Block block, Shape... inputShapes) {
        block.initialize(manager, dataType, inputShapes);
        return block.getOutputShapes(inputShapes)[0];
    }

    private static Shape concat(Shape first, Shape second) {
        return new Shape(first.get(0), first.get(1) + second.get(1), first.get(2), first.get(3));
    }
}
