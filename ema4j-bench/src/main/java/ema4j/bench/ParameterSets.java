package ema4j.bench;

import ema4j.core.TensorSpec;
import ema4j.core.WeightFormat;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The parameter lists the benchmarks average, by the name a {@code @Param} gives them.
 *
 * <p>{@code resnet50} is the 161 float32 parameters of torchvision's ResNet-50 (25,557,032 elements): stem conv and
 * bn, four layers of 3, 4, 6 and 3 bottlenecks (widths 64 to 512, expansion 4, a downsample conv and bn in each
 * layer's first block) and the classifier. {@code 100m} is that list four times over (102,228,128 elements). The
 * same lists are built by {@code bench/c/ema_update.c} and {@code bench/torch_peer.py}, so every row of the table
 * averages the same shapes.
 */
public final class ParameterSets {
    /** Float32 elements of ResNet-50's parameters. */
    public static final long RESNET50_PARAMETERS = 25_557_032L;

    private ParameterSets() {}

    /**
     * The tensors of a named set.
     *
     * @param name {@code resnet50} or {@code 100m}
     * @throws IllegalArgumentException for any other name
     */
    public static List<TensorSpec> named(String name) {
        return switch (name.toLowerCase(Locale.ROOT)) {
            case "resnet50" -> resnet50("");
            case "100m" -> {
                List<TensorSpec> all = new ArrayList<>();
                for (int copy = 0; copy < 4; copy++) {
                    all.addAll(resnet50("copy" + copy + "."));
                }
                yield all;
            }
            default -> throw new IllegalArgumentException("set must be resnet50 or 100m, was " + name);
        };
    }

    /** The total element count of a list. */
    public static long elementCount(List<TensorSpec> tensors) {
        long total = 0;
        for (TensorSpec t : tensors) {
            total += t.elementCount();
        }
        return total;
    }

    /** torchvision's ResNet-50 parameters in {@code named_parameters()} order, names prefixed. */
    static List<TensorSpec> resnet50(String prefix) {
        List<TensorSpec> out = new ArrayList<>(161);
        add(out, prefix + "conv1.weight", 64, 3, 7, 7);
        batchNorm(out, prefix + "bn1", 64);
        int[] blocks = {3, 4, 6, 3};
        int inPlanes = 64;
        for (int layer = 0; layer < blocks.length; layer++) {
            int width = 64 << layer;
            int outPlanes = width * 4;
            for (int block = 0; block < blocks[layer]; block++) {
                String b = prefix + "layer" + (layer + 1) + "." + block + ".";
                add(out, b + "conv1.weight", width, inPlanes, 1, 1);
                batchNorm(out, b + "bn1", width);
                add(out, b + "conv2.weight", width, width, 3, 3);
                batchNorm(out, b + "bn2", width);
                add(out, b + "conv3.weight", outPlanes, width, 1, 1);
                batchNorm(out, b + "bn3", outPlanes);
                if (block == 0) {
                    add(out, b + "downsample.0.weight", outPlanes, inPlanes, 1, 1);
                    batchNorm(out, b + "downsample.1", outPlanes);
                }
                inPlanes = outPlanes;
            }
        }
        add(out, prefix + "fc.weight", 1000, 2048);
        add(out, prefix + "fc.bias", 1000);
        return out;
    }

    private static void batchNorm(List<TensorSpec> out, String name, int channels) {
        add(out, name + ".weight", channels);
        add(out, name + ".bias", channels);
    }

    private static void add(List<TensorSpec> out, String name, long... shape) {
        out.add(new TensorSpec(name, shape, WeightFormat.FLOAT32));
    }
}
