package ema4j.djl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.util.Pair;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class BatchNormRecalibrationTest {
    private static final int N = 8;
    private static final int C = 3;
    private static final int HW = 4;

    private static float[] batch(Random random, float shift) {
        float[] x = new float[N * C * HW];
        for (int i = 0; i < x.length; i++) {
            int channel = (i / HW) % C;
            x[i] = shift + channel + (channel + 1) * (float) random.nextGaussian();
        }
        return x;
    }

    private static float[] statistic(Block block, Parameter.Type type) {
        for (Pair<String, Parameter> p : block.getParameters()) {
            if (p.getValue().getType() == type) {
                return p.getValue().getArray().toFloatArray();
            }
        }
        throw new AssertionError("no " + type);
    }

    private static void recalibrateOnThreeBatchesGivesTheAverageBatchStatistics(float djlMomentum) {
        try (NDManager manager = NDManager.newBaseManager()) {
            SequentialBlock block = new SequentialBlock().add(BatchNorm.builder().optMomentum(djlMomentum).build());
            block.initialize(manager, DataType.FLOAT32, new Shape(N, C, 2, 2));
            Random random = new Random(3);
            List<float[]> batches = List.of(batch(random, 0), batch(random, 5), batch(random, -2));
            List<NDList> inputs = new ArrayList<>();
            for (float[] b : batches) {
                inputs.add(new NDList(manager.create(b, new Shape(N, C, 2, 2))));
            }
            int used = BatchNormRecalibration.recalibrate(block, inputs.iterator(), 10, manager);
            assertThat(used).isEqualTo(3);
            double[] mean = new double[C];
            double[] var = new double[C];
            for (float[] b : batches) {
                for (int c = 0; c < C; c++) {
                    double sum = 0;
                    double squares = 0;
                    for (int n = 0; n < N; n++) {
                        for (int k = 0; k < HW; k++) {
                            double v = b[(n * C + c) * HW + k];
                            sum += v;
                            squares += v * v;
                        }
                    }
                    int count = N * HW;
                    double m = sum / count;
                    mean[c] += m / batches.size();
                    var[c] += (squares - count * m * m) / (count - 1) / batches.size();   // unbiased, as PyTorch
                }
            }
            float[] runningMean = statistic(block, Parameter.Type.RUNNING_MEAN);
            float[] runningVar = statistic(block, Parameter.Type.RUNNING_VAR);
            for (int c = 0; c < C; c++) {
                assertThat((double) runningMean[c]).isCloseTo(mean[c], within(1e-4 * (1 + Math.abs(mean[c]))));
                assertThat((double) runningVar[c]).isCloseTo(var[c], within(1e-4 * (1 + var[c])));
            }
        }
    }

    @Test
    void runningStatisticsBecomeTheAverageOfTheBatchStatistics() {
        recalibrateOnThreeBatchesGivesTheAverageBatchStatistics(0.9f);
    }

    @Test
    void theResultDoesNotDependOnTheLayersMomentum() {
        recalibrateOnThreeBatchesGivesTheAverageBatchStatistics(0.5f);
    }

    @Test
    void aBlockWithoutBatchNormIsLeftAlone() {
        try (NDManager manager = NDManager.newBaseManager()) {
            SequentialBlock block = new SequentialBlock().add(Linear.builder().setUnits(2).build());
            block.initialize(manager, DataType.FLOAT32, new Shape(1, 3));
            assertThat(BatchNormRecalibration.recalibrate(block,
                    List.of(new NDList(manager.ones(new Shape(1, 3)))).iterator(), 5, manager)).isZero();
        }
    }
}
