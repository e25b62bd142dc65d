package ema4j.djl;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.ParameterStore;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.translate.TranslateException;
import ai.djl.util.Pair;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/**
 * Recomputes the BatchNorm running statistics of a block for the weights it holds now, as the plain average of the
 * batch statistics over K batches: what PyTorch's {@code torch.optim.swa_utils.update_bn} does (Izmailov et al.,
 * 2018, "Averaging Weights Leads to Wider Optima and Better Generalization"). Averaged or reconstructed weights need
 * it: the running statistics that come with them were collected under other weights.
 *
 * <p>DJL's {@code BatchNorm} has no cumulative mode: a training-mode forward sets
 * {@code running = (1 - m) running + m batch}, with PyTorch's {@code m = 1 - momentum} and no getter for it. So each
 * batch runs with the statistics set to 0, which leaves {@code m batch}; {@code m} itself is measured once per
 * statistic on the first batch by a second forward with the statistics set to 1 (which leaves {@code 1 - m + m batch}).
 * In training mode BatchNorm normalizes with the batch's own statistics, so the values set never change the layers
 * downstream. No gradient is recorded and no weight changes but the running statistics.
 */
public final class BatchNormRecalibration {
    private BatchNormRecalibration() {}

    /**
     * Recalibrates {@code block} on the first {@code maxBatches} batches of {@code dataset}, as
     * {@link #recalibrate(Block, Iterator, int, NDManager)} does; each batch is closed after use.
     *
     * @param block an initialized block; its running statistics are overwritten
     * @param dataset training data, prepared, with the sampling (batch size, shuffle) wanted
     * @param maxBatches how many batches to use at most, {@code >= 1}
     * @param manager a manager for the batches and the forward passes' temporaries
     * @return how many batches were used; 0 when the block has no BatchNorm
     */
    public static int recalibrate(Block block, Dataset dataset, int maxBatches, NDManager manager)
            throws IOException, TranslateException {
        Iterator<Batch> batches = dataset.getData(manager).iterator();
        Batch[] open = new Batch[1];
        Iterator<NDList> inputs = new Iterator<>() {
            @Override
            public boolean hasNext() {
                return batches.hasNext();
            }

            @Override
            public NDList next() {
                if (open[0] != null) {
                    open[0].close();
                }
                open[0] = batches.next();
                return open[0].getData();
            }
        };
        try {
            return recalibrate(block, inputs, maxBatches, manager);
        } finally {
            if (open[0] != null) {
                open[0].close();
            }
        }
    }

    /**
     * Replaces every running mean and variance of {@code block} by the average of the batch statistics over the first
     * {@code maxBatches} inputs.
     *
     * @param block an initialized block; its running statistics are overwritten
     * @param inputs the model inputs of training batches (each closed by the caller), at least one
     * @param maxBatches how many batches to use at most, {@code >= 1}
     * @param manager a manager for the forward passes' temporaries
     * @return how many batches were used; 0 when the block has no BatchNorm (nothing changes)
     */
    public static int recalibrate(Block block, Iterator<NDList> inputs, int maxBatches, NDManager manager) {
        requireArgument(maxBatches >= 1, "batches", ">= 1", maxBatches);
        List<Parameter> statistics = new ArrayList<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            Parameter.Type type = p.getValue().getType();
            if (type == Parameter.Type.RUNNING_MEAN || type == Parameter.Type.RUNNING_VAR) {
                statistics.add(p.getValue());
            }
        }
        if (statistics.isEmpty()) {
            return 0;
        }
        requireArgument(inputs.hasNext(), "batches for BatchNorm recalibration", "at least one", "none");
        float[][] sums = new float[statistics.size()][];
        float[] momentum = new float[statistics.size()];
        int used = 0;
        try (NDManager scope = manager.newSubManager()) {
            ParameterStore store = new ParameterStore(scope, false);
            while (used < maxBatches && inputs.hasNext()) {
                NDList input = inputs.next();
                if (used == 0) {
                    forwardWithStatisticsAt(1f, block, statistics, store, input);
                    float[][] fromOne = read(statistics);
                    forwardWithStatisticsAt(0f, block, statistics, store, input);
                    float[][] fromZero = read(statistics);
                    for (int i = 0; i < statistics.size(); i++) {
                        double oneMinusM = 0;
                        for (int k = 0; k < fromOne[i].length; k++) {
                            oneMinusM += fromOne[i][k] - fromZero[i][k];
                        }
                        momentum[i] = (float) (1 - oneMinusM / fromOne[i].length);
                        requireArgument(momentum[i] > 1e-6, "BatchNorm momentum (PyTorch's m)", "> 0 to recalibrate",
                                momentum[i]);
                        sums[i] = new float[fromZero[i].length];
                    }
                    add(sums, fromZero);
                } else {
                    forwardWithStatisticsAt(0f, block, statistics, store, input);
                    add(sums, read(statistics));
                }
                used++;
            }
        }
        for (int i = 0; i < statistics.size(); i++) {
            float[] mean = sums[i];
            for (int k = 0; k < mean.length; k++) {
                mean[k] /= momentum[i] * used;
            }
            NDArray array = statistics.get(i).getArray();
            array.set(mean);
        }
        return used;
    }

    private static void forwardWithStatisticsAt(float value, Block block, List<Parameter> statistics,
            ParameterStore store, NDList input) {
        for (Parameter statistic : statistics) {
            statistic.getArray().set(filled(statistic.getArray(), value));
        }
        try (NDManager scope = input.head().getManager().newSubManager()) {
            NDList output = block.forward(store, input, true);
            output.attach(scope);
        }
    }

    private static float[] filled(NDArray array, float value) {
        float[] values = new float[Math.toIntExact(array.size())];
        java.util.Arrays.fill(values, value);
        return values;
    }

    private static float[][] read(List<Parameter> statistics) {
        float[][] values = new float[statistics.size()][];
        for (int i = 0; i < values.length; i++) {
            values[i] = statistics.get(i).getArray().toFloatArray();
        }
        return values;
    }

    private static void add(float[][] sums, float[][] values) {
        for (int i = 0; i < sums.length; i++) {
            for (int k = 0; k < sums[i].length; k++) {
                sums[i][k] += values[i][k];
            }
        }
    }
}
