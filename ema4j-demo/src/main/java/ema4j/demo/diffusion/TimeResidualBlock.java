package ema4j.demo.diffusion;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.AbstractBlock;
import ai.djl.nn.Block;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ai.djl.util.PairList;

/**
 * The residual block of the DDPM U-Net (Ho et al. 2020, appendix B, after Wide ResNet): GroupNorm-SiLU-conv3x3, the
 * projected time embedding added per channel, GroupNorm-SiLU-conv3x3, plus the input (through a 1x1 convolution when
 * the number of channels changes).
 *
 * <p>Inputs: features (batch, in, height, width) and the time embedding (batch, embedding); output: (batch, out,
 * height, width).
 */
final class TimeResidualBlock extends AbstractBlock {
    private final int channels;
    private final GroupNorm firstNorm;
    private final Conv2d firstConv;
    private final Linear timeProjection;
    private final GroupNorm secondNorm;
    private final Conv2d secondConv;
    private final Block shortcut;

    /**
     * @param channels the output's channels
     * @param groups the groups of both GroupNorms; they must divide the input's and the output's channels
     * @param projectShortcut whether the input has another number of channels, to be projected by a 1x1 convolution
     */
    TimeResidualBlock(int channels, int groups, boolean projectShortcut) {
        this.channels = channels;
        firstNorm = addChildBlock("firstNorm", new GroupNorm(groups));
        firstConv = addChildBlock("firstConv", FashionUNet.conv3x3(channels, 1));
        timeProjection = addChildBlock("timeProjection", Linear.builder().setUnits(channels).build());
        secondNorm = addChildBlock("secondNorm", new GroupNorm(groups));
        secondConv = addChildBlock("secondConv", FashionUNet.conv3x3(channels, 1));
        shortcut = projectShortcut
                ? addChildBlock("shortcut", Conv2d.builder().setKernelShape(new Shape(1, 1)).setFilters(channels)
                        .build())
                : null;
    }

    @Override
    protected NDList forwardInternal(ParameterStore store, NDList inputs, boolean training,
            PairList<String, Object> params) {
        NDArray x = inputs.get(0);
        NDList time = Silu.of(new NDList(inputs.get(1)));
        NDArray h = firstConv.forward(store, Silu.of(firstNorm.forward(store, new NDList(x), training)), training)
                .singletonOrThrow();
        NDArray shift = timeProjection.forward(store, time, training).singletonOrThrow();
        h = h.add(shift.reshape(shift.getShape().get(0), channels, 1, 1));
        h = secondConv.forward(store, Silu.of(secondNorm.forward(store, new NDList(h), training)), training)
                .singletonOrThrow();
        NDArray skip = shortcut == null ? x : shortcut.forward(store, new NDList(x), training).singletonOrThrow();
        return new NDList(h.add(skip));
    }

    @Override
    public Shape[] getOutputShapes(Shape[] inputShapes) {
        Shape in = inputShapes[0];
        return new Shape[] {new Shape(in.get(0), channels, in.get(2), in.get(3))};
    }

    @Override
    protected void initializeChildBlocks(NDManager manager, DataType dataType, Shape... inputShapes) {
        Shape in = inputShapes[0];
        Shape out = getOutputShapes(inputShapes)[0];
        firstNorm.initialize(manager, dataType, in);
        firstConv.initialize(manager, dataType, in);
        timeProjection.initialize(manager, dataType, inputShapes[1]);
        secondNorm.initialize(manager, dataType, out);
        secondConv.initialize(manager, dataType, out);
        if (shortcut != null) {
            shortcut.initialize(manager, dataType, in);
        }
    }
}
