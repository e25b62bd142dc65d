package ema4j.djl.checkpoint;

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
import ema4j.djl.optim.CheckpointableSgd;
import ema4j.io.checkpoint.Checkpoint;
import ema4j.io.checkpoint.CheckpointStore;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

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

    private static List<double[]> shadows(EmaModel ema) {
        List<double[]> values = new ArrayList<>();
        for (int i = 0; i < ema.state().tensors().size(); i++) {
            values.add(ema.state().shadowValues(i));
        }
        return values;
    }

    @Test
    void anEmaOfFloat16WeightsResumesFromACheckpointBitExactly(@TempDir Path dir) throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            SequentialBlock block = new SequentialBlock().add(Linear.builder().setUnits(7).build());
            block.initialize(manager, DataType.FLOAT16, new Shape(1, 9));
            assertThat(block.getParameters().get(0).getValue().getArray().getDataType()).isEqualTo(DataType.FLOAT16);
            CheckpointableSgd sgd = CheckpointableSgd.builder().setLearningRateTracker(Tracker.fixed(0.1f)).build();
            sgd.bind(block);
            Random random = new Random(1);
            EmaModel whole = EmaModel.builder(SCHEDULE).track(block);
            // a second EMA of another length, so that its shadows differ from the main one's
            EmaModel other = EmaModel.builder(OTHER_SCHEDULE).track(block);
            for (int n = 0; n < 5; n++) {
                step(block, manager, random);
                whole.step();
                other.step();
            }
            Checkpoint checkpoint = CheckpointStore.at(dir, 1).save(5,
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
            EmaModel resumed = TrainingCheckpoint.resumeEma(checkpoint, EmaModel.builder(SCHEDULE), block);
            EmaModel additional = TrainingCheckpoint.resumeAdditionalEma(checkpoint, "posthoc-ema0",
                    EmaModel.builder(OTHER_SCHEDULE), block);
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
                assertThat(actual.get(i)).containsExactly(expected.get(i));
                assertThat(shadows(additional).get(i)).containsExactly(expectedOther.get(i));
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
            Checkpoint checkpoint = CheckpointStore.at(dir, 1).save(1,
                    TrainingCheckpoint.contents(block, ema, sgd, Map.of()));
            assertThat(checkpoint.has("ema.safetensors")).isTrue();
            assertThat(checkpoint.has("ema-shadows.safetensors")).isFalse();
        }
    }
}
