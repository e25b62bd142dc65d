package ema4j.training.optim;

import static ema4j.training.optim.TrainingRun.assertBitIdentical;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class CheckpointableSgdTest {
    private static final int SEED = 42;
    /** DJL's own SGD with momentum from the same seed: the weights before and after 20 steps. */
    private static Map<String, float[]> initial;
    private static Map<String, float[]> djlAfterTwentySteps;

    private static Tracker cosine() {
        return Tracker.cosine().setBaseValue(0.1f).optFinalValue(0.001f).setMaxUpdates(20).build();
    }

    private static CheckpointableSgd sgd(float momentum) {
        return CheckpointableSgd.builder().setLearningRateTracker(cosine()).optMomentum(momentum)
                .optWeightDecays(1e-3f).build();
    }

    @BeforeAll
    static void trainWithDjlsSgd() {
        try (TrainingRun run = new TrainingRun(SEED, Optimizer.sgd().setLearningRateTracker(cosine())
                .optMomentum(0.9f).optWeightDecays(1e-3f).build())) {
            initial = run.weights();
            run.train(0, 20);
            djlAfterTwentySteps = run.weights();
        }
        assertThat(djlAfterTwentySteps.get("01Conv2d_weight")).isNotEqualTo(initial.get("01Conv2d_weight"));
    }

    @Test
    void twentyStepsAreBitIdenticalToDjlsSgdWithMomentum() {
        CheckpointableSgd ours = sgd(0.9f);
        try (TrainingRun run = new TrainingRun(SEED, ours)) {
            assertBitIdentical(run.weights(), initial);
            run.train(0, 20);
            assertBitIdentical(run.weights(), djlAfterTwentySteps);
        }
        assertThat(ours.steps()).isEqualTo(20);
    }

    @Test
    void resumingFromTheExportedStateIsBitIdenticalToAnUninterruptedRun() {
        CheckpointableSgd before = sgd(0.9f);
        CheckpointableSgd after = sgd(0.9f);
        try (TrainingRun first = new TrainingRun(SEED, before); TrainingRun second = new TrainingRun(SEED + 1, after)) {
            first.train(0, 10);
            second.copyWeightsFrom(first);
            after.restore(before.updateCounts(), TrainingRun.copy(before.slots()));
            second.train(10, 20);
            assertBitIdentical(second.weights(), djlAfterTwentySteps);
            assertThat(after.steps()).isEqualTo(20);
        }
    }

    @Test
    void restoringTheCountsPutsTheLearningRateScheduleBackWhereItWas() {
        Map<String, float[]> uninterrupted;
        try (TrainingRun run = new TrainingRun(SEED, sgd(0))) {
            run.train(0, 10);
            uninterrupted = run.weights();
        }
        CheckpointableSgd before = sgd(0);
        CheckpointableSgd restored = sgd(0);
        CheckpointableSgd restarted = sgd(0);
        try (TrainingRun first = new TrainingRun(SEED, before);
                TrainingRun resumed = new TrainingRun(SEED, restored);
                TrainingRun fromScratch = new TrainingRun(SEED, restarted)) {
            first.train(0, 5);
            assertThat(before.slots()).isEmpty();
            resumed.copyWeightsFrom(first);
            restored.restore(before.updateCounts(), Map.of());
            resumed.train(5, 10);
            fromScratch.copyWeightsFrom(first);
            fromScratch.train(5, 10);

            assertBitIdentical(resumed.weights(), uninterrupted);
            assertThat(fromScratch.weights().get("01Conv2d_weight"))
                    .isNotEqualTo(uninterrupted.get("01Conv2d_weight"));
        }
    }

    @Test
    void restoreNamesTheSlotAndBothSizesWhenTheBytesDoNotFit() {
        CheckpointableSgd optimizer = sgd(0.9f);
        try (TrainingRun run = new TrainingRun(SEED, optimizer)) {
            run.train(0, 1);
            Map<String, ByteBuffer> slots = new HashMap<>(TrainingRun.copy(optimizer.slots()));
            slots.put("01Conv2d_weight/momentum", ByteBuffer.allocate(100));
            assertThatThrownBy(() -> optimizer.restore(optimizer.updateCounts(), slots))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("slots[\"01Conv2d_weight/momentum\"] must be 144 bytes (float32 of shape (4, 1, 3, 3)),"
                            + " was 100 bytes");
        }
    }

    @Test
    void restoreRejectsAnUnknownParameterName() {
        CheckpointableSgd optimizer = sgd(0.9f);
        try (TrainingRun run = new TrainingRun(SEED, optimizer)) {
            assertThatThrownBy(() -> optimizer.restore(Map.of("99Linear_weight", 3L), Map.of()))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("updateCounts must be keyed by parameter names of the bound block,"
                            + " was unknown [99Linear_weight]");
        }
    }

    @Test
    void restoreListsTheMissingAndTheUnexpectedSlots() {
        CheckpointableSgd optimizer = sgd(0.9f);
        try (TrainingRun run = new TrainingRun(SEED, optimizer)) {
            run.train(0, 1);
            Map<String, ByteBuffer> slots = new HashMap<>(TrainingRun.copy(optimizer.slots()));
            slots.put("01Conv2d_weight/velocity", slots.remove("01Conv2d_weight/momentum"));
            assertThatThrownBy(() -> optimizer.restore(optimizer.updateCounts(), slots))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("slots must be one entry \"<parameterName>/<slot>\" for each slot [momentum]")
                    .hasMessageEndingWith("was missing [01Conv2d_weight/momentum],"
                            + " unexpected [01Conv2d_weight/velocity]");
        }
    }

    @Test
    void restoreBeforeBindSaysToCallBind() {
        CheckpointableSgd optimizer = sgd(0.9f);
        assertThatThrownBy(() -> optimizer.restore(Map.of(), Map.of()))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("call bind(block) after trainer.initialize");
    }

    @Test
    void anUpdateBeforeBindSaysToCallBind() {
        try (TrainingRun run = new TrainingRun(SEED, sgd(0.9f), false, false)) {
            assertThatThrownBy(() -> run.train(0, 1))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("is not bound: call bind(block) after trainer.initialize");
        }
    }

    @Test
    void stepsCountsTrainerStepsAndFrozenParametersHaveNoState() {
        CheckpointableSgd optimizer = sgd(0.9f);
        try (TrainingRun run = new TrainingRun(SEED, optimizer, true, true)) {
            run.train(0, 5);
            assertThat(optimizer.steps()).isEqualTo(5);
            assertThat(optimizer.updateCounts()).containsOnlyKeys("01Conv2d_weight", "01Conv2d_bias",
                    "02BatchNorm_gamma", "02BatchNorm_beta", "05Linear_weight", "05Linear_bias")
                    .allSatisfy((name, count) -> assertThat(count).isEqualTo(5));
            assertThat(optimizer.slots()).hasSize(6).containsKey("05Linear_bias/momentum");
        }
    }

    @Test
    void describePrintsEveryHyperParameter() {
        CheckpointableSgd optimizer = CheckpointableSgd.builder().setLearningRateTracker(Tracker.fixed(0.1f))
                .optMomentum(0.9f).optWeightDecays(1e-4f).setRescaleGrad(0.5f).optClipGrad(1f).optBeginNumUpdate(3)
                .build();
        assertThat(optimizer).hasToString(optimizer.describe());
        assertThat(optimizer.describe()).isEqualTo("CheckpointableSgd{learningRateTracker=FixedTracker, momentum=0.9,"
                + " weightDecays=1.0E-4, rescaleGrad=0.5, clipGrad=1.0, beginNumUpdate=3}");
        assertThat(optimizer.slotNames()).isEqualTo(List.of("momentum"));
        assertThat(sgd(0).slotNames()).isEmpty();
    }

    @Test
    void theBuilderNamesTheBadArgumentAndItsValue() {
        assertThatThrownBy(() -> CheckpointableSgd.builder().optMomentum(Float.NaN))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("momentum must be in [0, 1), was NaN");
        assertThatThrownBy(() -> CheckpointableSgd.builder().optWeightDecays(-1f))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("weightDecays must be finite and >= 0, was -1.0");
        assertThatThrownBy(() -> CheckpointableSgd.builder().build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("learningRateTracker must be set, was null");
    }
}
