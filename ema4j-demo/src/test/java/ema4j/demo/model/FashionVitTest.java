package ema4j.demo.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import ema4j.demo.model.SubsetTraining.LossChange;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class FashionVitTest {
    @Test
    void aBatchOfImagesGivesTenScoresEach() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            assertThat(SubsetTraining.outputShape(FashionVit.block(), manager, 3)).isEqualTo(new Shape(3, 10));
        }
    }

    @Test
    void everyBlockHasTheSameParameterNamesWhateverTheDropout() {
        Block first = FashionVit.block();

        assertThat(SubsetTraining.parameterNames(FashionVit.block(0.1f)))
                .isNotEmpty().doesNotHaveDuplicates().isEqualTo(SubsetTraining.parameterNames(first))
                .anySatisfy(name -> assertThat(name).endsWith("classToken"))
                .anySatisfy(name -> assertThat(name).endsWith("positionEmbedding"));
    }

    @Test
    void itHasAboutOneHundredFortyThousandParameters() {
        assertThat(SubsetTraining.trainableParameterCount(FashionVit.block())).isBetween(120_000L, 160_000L);
    }

    @Test
    void aFewAdamStepsOnTheSubsetLowerTheTrainingLossAndLeaveNoArraysBehind() throws IOException, TranslateException {
        LossChange change = SubsetTraining.train(FashionVit.block(0.1f),
                Optimizer.adam().optLearningRateTracker(Tracker.fixed(1e-3f)).build(), 10, 32);

        assertThat(change.after()).isLessThan(change.before() * 0.8f);
        assertThat(change.leavesNoArraysBehind()).as("arrays in the model's manager after each step: %s",
                change.modelArraysAfterEachStep()).isTrue();
    }

    @Test
    void aDropoutRateOfOneIsRefused() {
        assertThatThrownBy(() -> FashionVit.block(1f)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("dropout must be in [0, 1), was 1.0");
        assertThatThrownBy(() -> FashionVit.block(Float.NaN)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("dropout must be in [0, 1), was NaN");
    }
}
