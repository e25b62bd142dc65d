package ema4j.demo.model;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import ema4j.demo.model.SubsetTraining.LossChange;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class FashionResNetTest {
    @Test
    void aBatchOfImagesGivesTenScoresEach() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            assertThat(SubsetTraining.outputShape(FashionResNet.block(), manager, 3)).isEqualTo(new Shape(3, 10));
        }
    }

    @Test
    void everyBlockHasTheSameParameterNames() {
        Block first = FashionResNet.block();

        assertThat(SubsetTraining.parameterNames(FashionResNet.block()))
                .isNotEmpty().doesNotHaveDuplicates().isEqualTo(SubsetTraining.parameterNames(first));
    }

    @Test
    void itHasAboutOneHundredSeventyFiveThousandParameters() {
        assertThat(SubsetTraining.trainableParameterCount(FashionResNet.block())).isBetween(150_000L, 200_000L);
    }

    @Test
    void aFewAdamStepsOnTheSubsetLowerTheTrainingLossAndLeaveNoArraysBehind() throws IOException, TranslateException {
        LossChange change = SubsetTraining.train(FashionResNet.block(),
                Optimizer.adam().optLearningRateTracker(Tracker.fixed(3e-3f)).build(), 6, 32);

        assertThat(change.after()).isLessThan(change.before() * 0.8f);
        assertThat(change.leavesNoArraysBehind()).as("arrays in the model's manager after each step: %s",
                change.modelArraysAfterEachStep()).isTrue();
    }
}
