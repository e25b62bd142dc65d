package ema4j.training.optim;

import static ema4j.training.optim.TrainingRun.assertBitIdentical;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class CheckpointableAdamTest {
    private static final int SEED = 7;
    /** DJL's own Adam from the same seed: the weights before and after 20 steps. */
    private static Map<String, float[]> initial;
    private static Map<String, float[]> djlAfterTwentySteps;

    private static Tracker factor() {
        return Tracker.factor().setBaseValue(0.01f).setFactor(0.9f).build();
    }

    private static CheckpointableAdam adam() {
        return CheckpointableAdam.builder().optLearningRateTracker(factor()).optWeightDecays(1e-3f).build();
    }

    @BeforeAll
    static void trainWithDjlsAdam() {
        try (TrainingRun run = new TrainingRun(SEED, Optimizer.adam().optLearningRateTracker(factor())
                .optWeightDecays(1e-3f).build())) {
            initial = run.weights();
            run.train(0, 20);
            djlAfterTwentySteps = run.weights();
        }
        assertThat(djlAfterTwentySteps.get("05Linear_weight")).isNotEqualTo(initial.get("05Linear_weight"));
    }

    @Test
    void twentyStepsAreBitIdenticalToDjlsAdam() {
        CheckpointableAdam ours = adam();
        try (TrainingRun run = new TrainingRun(SEED, ours)) {
            assertBitIdentical(run.weights(), initial);
            run.train(0, 20);
            assertBitIdentical(run.weights(), djlAfterTwentySteps);
        }
        assertThat(ours.steps()).isEqualTo(20);
    }

    @Test
    void resumingFromTheExportedMomentsAndCountsIsBitIdenticalToAnUninterruptedRun() {
        CheckpointableAdam before = adam();
        CheckpointableAdam after = adam();
        try (TrainingRun first = new TrainingRun(SEED, before); TrainingRun second = new TrainingRun(SEED + 1, after)) {
            first.train(0, 10);
            second.copyWeightsFrom(first);
            after.restore(before.updateCounts(), TrainingRun.copy(before.slots()));
            assertThat(after.updateCounts()).isEqualTo(before.updateCounts());
            second.train(10, 20);
            assertBitIdentical(second.weights(), djlAfterTwentySteps);
        }
    }

    @Test
    void everyUpdatedParameterHasAMeanAndAVarianceSlotOfItsOwnShape() {
        CheckpointableAdam optimizer = adam();
        try (TrainingRun run = new TrainingRun(SEED, optimizer)) {
            run.train(0, 2);
            assertThat(optimizer.slotNames()).isEqualTo(List.of("mean", "variance"));
            assertThat(optimizer.slots()).hasSize(2 * optimizer.updateCounts().size())
                    .containsKeys("01Conv2d_weight/mean", "01Conv2d_weight/variance");
            assertThat(optimizer.slots().get("07Linear_weight/variance").getShape())
                    .isEqualTo(run.block().getParameters().get("07Linear_weight").getArray().getShape());
        }
    }

    @Test
    void describePrintsEveryHyperParameter() {
        assertThat(CheckpointableAdam.builder().build().describe()).isEqualTo("CheckpointableAdam{learningRateTracker="
                + "FixedTracker, beta1=0.9, beta2=0.999, epsilon=1.0E-8, weightDecays=0.0, rescaleGrad=1.0,"
                + " clipGrad=-1.0, beginNumUpdate=0}");
    }

    @Test
    void theBuilderNamesTheBadArgumentAndItsValue() {
        assertThatThrownBy(() -> CheckpointableAdam.builder().optBeta2(1f))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("beta2 must be in [0, 1), was 1.0");
        assertThatThrownBy(() -> CheckpointableAdam.builder().optEpsilon(0f))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("epsilon must be finite and > 0, was 0.0");
        assertThatThrownBy(() -> CheckpointableAdam.builder().optLearningRateTracker(null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("learningRateTracker must be non-null, was null");
    }
}
