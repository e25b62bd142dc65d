package ema4j.training;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.tracker.Tracker;
import ai.djl.util.Pair;
import ema4j.core.schedule.DecaySchedule;
import ema4j.djl.EmaModel;
import ema4j.djl.ShadowPlacement;
import ema4j.training.optim.CheckpointableSgd;
import ema4j.io.checkpoint.Checkpoint;
import ema4j.io.checkpoint.CheckpointStore;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Checkpoints of EMAs over 16-bit weights resume bit-exactly: their float32 shadows are saved at full precision.
 * (float16: DJL 0.36's PyTorch engine aborts the JVM on any bfloat16 tensor, so bfloat16 is tested in the core only.)
 */
class TrainingCheckpointTest {
    private static final DecaySchedule SCHEDULE = DecaySchedule.constant(0.99);
    private static final DecaySchedule OTHER_SCHEDULE = DecaySchedule.constant(0.9);

    /** Sets every weight to a fresh value from {@code random}, as an optimizer step would change it. */
    private static void step(Block block, NDManager manager, Random random) {
        for (Pair<String, Parameter> p : block.getParameters()) {
            NDArray w = p.getValue().getArray();
            float[] values = new float[Math.toIntExact(w.size())];
            for (int i = 0; i < values.length; i++) {
                values[i] = (float) random.nextGaussian();
            }
            try (NDArray next = manager.create(values, w.getShape()).toType(w.getDataType(), false)) {
                w.muli(0).addi(next);
            }
        }
    }

    /** Every shadow at its own precision (float32 here), widened to double. */
    private static List<double[]> shadows(EmaModel ema) {
        List<double[]> values = new ArrayList<>();
        for (ema4j.core.EmaSnapshot.SavedShadow shadow : ema.snapshot().shadows()) {
            FloatBuffer floats = shadow.values().asFloatBuffer();
            double[] widened = new double[floats.remaining()];
            for (int k = 0; k < widened.length; k++) {
                widened[k] = floats.get(k);
            }
            values.add(widened);
        }
        return values;
    }

    /** Saved with shadows in host memory or on the model's device, resumed with them in either place. */
    @ParameterizedTest(name = "saved {0}, resumed {1}")
    @CsvSource({"HOST, HOST", "MODEL_DEVICE, MODEL_DEVICE", "MODEL_DEVICE, HOST", "HOST, MODEL_DEVICE"})
    void anEmaOfFloat16WeightsResumesFromACheckpointBitExactly(ShadowPlacement saved, ShadowPlacement resumedOn,
            @TempDir Path dir) throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            SequentialBlock block = new SequentialBlock().add(Linear.builder().setUnits(7).build());
            block.initialize(manager, DataType.FLOAT16, new Shape(1, 9));
            assertThat(block.getParameters().get(0).getValue().getArray().getDataType()).isEqualTo(DataType.FLOAT16);
            CheckpointableSgd sgd = CheckpointableSgd.builder().setLearningRateTracker(Tracker.fixed(0.1f)).build();
            sgd.bind(block);
            Random random = new Random(1);
            EmaModel whole = EmaModel.builder(SCHEDULE).shadowPlacement(saved).track(block);
            // a second EMA of another length, so that its shadows differ from the main one's
            EmaModel other = EmaModel.builder(OTHER_SCHEDULE).shadowPlacement(saved).track(block);
            assertThat(whole.placement()).isEqualTo(saved);
            for (int n = 0; n < 5; n++) {
                step(block, manager, random);
                whole.step();
                other.step();
            }
            Checkpoint checkpoint = CheckpointStore.at(dir, 1).save(5, "run-a",
                    TrainingCheckpoint.contents(block, whole, Map.of("posthoc-ema0", other), sgd, Map.of()));
            assertThat(checkpoint.has("ema-shadows.safetensors")).isTrue();
            assertThat(checkpoint.has("posthoc-ema0-shadows.safetensors")).isTrue();
            Random replay = new Random(2);
            for (int n = 0; n < 5; n++) {
                step(block, manager, replay);
                whole.step();
                other.step();
            }

            TrainingCheckpoint.restoreModelAndOptimizer(checkpoint, block, sgd);
            EmaModel resumed = TrainingCheckpoint.resumeEma(checkpoint,
                    EmaModel.builder(SCHEDULE).shadowPlacement(resumedOn), block);
            EmaModel additional = TrainingCheckpoint.resumeAdditionalEma(checkpoint, "posthoc-ema0",
                    EmaModel.builder(OTHER_SCHEDULE).shadowPlacement(resumedOn), block);
            assertThat(resumed.placement()).isEqualTo(resumedOn);
            assertThat(resumed.status().updates()).isEqualTo(5);
            replay = new Random(2);
            for (int n = 0; n < 5; n++) {
                step(block, manager, replay);
                resumed.step();
                additional.step();
            }
            List<double[]> expected = shadows(whole);
            List<double[]> actual = shadows(resumed);
            List<double[]> expectedOther = shadows(other);
            for (int i = 0; i < expected.size(); i++) {
                if (saved == resumedOn) {
                    assertThat(actual.get(i)).containsExactly(expected.get(i));
                    assertThat(shadows(additional).get(i)).containsExactly(expectedOther.get(i));
                } else {
                    // the same shadows at the checkpoint, then five updates by the other arithmetic
                    assertThat(actual.get(i)).containsExactly(expected.get(i), withinFloat32Rounding(expected.get(i)));
                }
                assertThat(expectedOther.get(i)).isNotEqualTo(expected.get(i));
            }
            // the shadows are finer than float16 (10 mantissa bits): the EMA model alone would round them
            boolean finer = false;
            for (double v : expected.get(0)) {
                finer |= (Float.floatToIntBits((float) v) & 0x1fff) != 0;
            }
            assertThat(finer).isTrue();
        }
    }

    /** A few float32 ulps of the largest value: what five updates by the two arithmetics may differ by. */
    private static org.assertj.core.data.Offset<Double> withinFloat32Rounding(double[] values) {
        double largest = 0;
        for (double v : values) {
            largest = Math.max(largest, Math.abs(v));
        }
        return org.assertj.core.data.Offset.offset(16 * Math.ulp((float) largest) + 0.0);
    }

    @Test
    void float32ModelsNeedNoSecondCopyOfTheShadows(@TempDir Path dir) throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            SequentialBlock block = new SequentialBlock().add(Linear.builder().setUnits(3).build());
            block.initialize(manager, DataType.FLOAT32, new Shape(1, 2));
            CheckpointableSgd sgd = CheckpointableSgd.builder().setLearningRateTracker(Tracker.fixed(0.1f)).build();
            sgd.bind(block);
            EmaModel ema = EmaModel.builder(SCHEDULE).track(block);
            step(block, manager, new Random(3));
            ema.step();
            Checkpoint checkpoint = CheckpointStore.at(dir, 1).save(1, "run-a",
                    TrainingCheckpoint.contents(block, ema, sgd, Map.of()));
            assertThat(checkpoint.has("ema.safetensors")).isTrue();
            assertThat(checkpoint.has("ema-shadows.safetensors")).isFalse();
        }
    }
}
