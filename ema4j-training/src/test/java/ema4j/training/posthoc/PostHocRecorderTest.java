package ema4j.training.posthoc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;
import ema4j.core.policy.ParameterRule;
import ema4j.core.schedule.PowerFunction;
import ema4j.djl.EmaModel;
import ema4j.djl.ParameterReport;
import ema4j.io.posthoc.Snapshot;
import ema4j.io.safetensors.SafetensorsFile;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PostHocRecorderTest {

    @Test
    void aSnapshotHoldsThePowerFunctionAverageOfTheWeightsSeenSoFar(@TempDir Path dir) throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            SequentialBlock block = new SequentialBlock().add(Linear.builder().setUnits(1).optBias(false).build());
            block.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
            Parameter weight = block.getParameters().get(0).getValue();
            PostHocRecorder recorder = PostHocRecorder.start(block, List.of(0.10), 2, dir);
            double gamma = PowerFunction.ofSigmaRel(0.10).gamma();
            double expected = 0;
            for (int step = 1; step <= 4; step++) {
                weight.getArray().set(new float[] {step});
                recorder.step();
                double decay = Math.pow(1 - 1.0 / step, gamma + 1);   // decayAt(step - 1 updates so far)
                expected = decay * expected + (1 - decay) * step;
                assertThat(recorder.recordIfDue(step, false)).isEqualTo(step % 2 == 0);
            }
            List<Snapshot> snapshots = recorder.store().snapshots();
            assertThat(snapshots).extracting(Snapshot::step).containsExactly(2L, 4L);
            String name = block.getParameters().get(0).getKey();
            try (SafetensorsFile last = SafetensorsFile.open(recorder.store().pathOf(snapshots.get(1)))) {
                FloatBuffer value = last.read(name).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
                assertThat((double) value.get(0)).isCloseTo(expected, org.assertj.core.api.Assertions.within(1e-5));
            }
        }
    }

    @Test
    void everyParameterButRunningStatisticsIsAveragedSoThatSnapshotsCombineLinearly(@TempDir Path dir)
            throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            SequentialBlock block = new SequentialBlock().add(Linear.builder().setUnits(3).build())
                    .add(BatchNorm.builder().build());
            block.initialize(manager, DataType.FLOAT32, new Shape(2, 3));
            PostHocRecorder recorder = PostHocRecorder.start(block, List.of(0.05, 0.1), 1, dir);
            for (EmaModel ema : recorder.checkpointed().values()) {
                assertThat(ema.parameters()).allSatisfy(p -> assertThat(p.rule())
                        .as(p.name()).isEqualTo(p.name().contains("running") ? ParameterRule.COPY
                                : ParameterRule.AVERAGE));
                assertThat(ema.parameters()).extracting(ParameterReport::name).anyMatch(n -> n.endsWith("gamma"));
            }
            assertThat(recorder.checkpointed()).containsOnlyKeys("posthoc-ema0", "posthoc-ema1");
        }
    }

    @Test
    void aDirectoryWithAnEarlierRunsSnapshotsIsRefused(@TempDir Path dir) throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            SequentialBlock block = new SequentialBlock().add(Linear.builder().setUnits(1).build());
            block.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
            PostHocRecorder first = PostHocRecorder.start(block, List.of(0.1), 1, dir.resolve("posthoc"));
            first.step();
            first.recordIfDue(1, false);
            assertThatThrownBy(() -> PostHocRecorder.start(block, List.of(0.1), 1, dir.resolve("posthoc")))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("--out must be a directory whose posthoc/ holds no snapshots");
        }
    }

    @Test
    void anIntervalBelowOneIsRefusedWithTheOptionsName(@TempDir Path dir) {
        try (NDManager manager = NDManager.newBaseManager()) {
            SequentialBlock block = new SequentialBlock().add(Linear.builder().setUnits(1).build());
            block.initialize(manager, DataType.FLOAT32, new Shape(1, 1));
            assertThatThrownBy(() -> PostHocRecorder.start(block, List.of(0.1), 0, dir))
                    .hasMessage("--posthoc-every must be >= 1, was 0");
        }
    }
}
