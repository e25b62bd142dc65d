package ema4j.djl;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.training.EasyTrain;
import ai.djl.training.dataset.ArrayDataset;
import ema4j.core.schedule.DecaySchedule;
import ema4j.core.schedule.Preset;
import java.util.List;
import org.junit.jupiter.api.Test;

class EmaTrainingTest {

    /** With decay 0 the EMA copies: it equals the live weights exactly only if it saw them after the last step. */
    private static void assertEmaHoldsTheFinalWeights(SmallNet net, EmaModel ema) {
        List<String> names = Shadows.names(ema);
        for (int i = 0; i < names.size(); i++) {
            float[] live = net.values(names.get(i));
            double[] shadow = Shadows.of(ema, i);
            for (int k = 0; k < live.length; k++) {
                assertThat(shadow[k]).as(names.get(i)).isEqualTo(live[k]);
            }
        }
    }

    @Test
    void theFitLoopAveragesPostStepWeightsAndValidatesBoth() throws Exception {
        try (SmallNet net = new SmallNet(41)) {
            EmaModel ema = EmaModel.track(net.model.getBlock(), DecaySchedule.constant(0));
            List<EpochResult> results = EmaTraining.fit(net.trainer, ema, 2, net.train, net.validation);
            assertEmaHoldsTheFinalWeights(net, ema);
            assertThat(results).hasSize(2);
            assertThat(results.get(1).raw().metric("Accuracy")).isEqualTo(results.get(1).ema().metric("Accuracy"));
            assertThat(ema.status().updates()).isEqualTo(16);
        }
    }

    @Test
    void theListenerUnderEasyTrainFitAveragesPostStepWeights() throws Exception {
        EmaTrainingListener listener = new EmaTrainingListener(
                block -> EmaModel.track(block, DecaySchedule.constant(0)), null);
        try (SmallNet net = SmallNet.withListener(43, listener)) {
            EasyTrain.fit(net.trainer, 2, net.train, net.validation);
            assertEmaHoldsTheFinalWeights(net, listener.ema());
            assertThat(listener.ema().status().updates()).isEqualTo(16);
        }
    }

    @Test
    void theFitLoopValidatesTheEmaWeightsSwappedIn() throws Exception {
        try (SmallNet net = new SmallNet(45)) {
            EmaModel ema = EmaModel.track(net.model.getBlock(), Preset.SHORT.schedule());
            List<EpochResult> results = EmaTraining.fit(net.trainer, ema, 2, net.train, net.validation);
            EpochResult last = results.get(1);
            assertThat(last.ema().loss()).as("EMA and raw weights differ after 16 averaged steps")
                    .isNotEqualTo(last.raw().loss());
            assertThat(last.raw().loss()).isEqualTo(Evaluation.of(net.trainer, net.validation).loss());
            try (EmaModel.Swap swap = ema.swapIn()) {
                assertThat(last.ema().loss()).isEqualTo(Evaluation.of(net.trainer, net.validation).loss());
            }
        }
    }

    @Test
    void theListenerReportsRawAndEmaValidationEachEpoch() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            ArrayDataset validation = SmallNet.data(manager, 64, 48);
            EmaTrainingListener listener = new EmaTrainingListener(
                    block -> EmaModel.track(block, Preset.SHORT.schedule()), validation);
            try (SmallNet net = SmallNet.withListener(47, listener)) {
                EasyTrain.fit(net.trainer, 2, net.train, null);
                List<EpochResult> results = listener.results();
                assertThat(results).hasSize(2);
                for (EpochResult result : results) {
                    assertThat(result.raw().loss()).as("epoch %d raw loss", result.epoch()).isFinite();
                    assertThat(result.ema().loss()).as("epoch %d EMA loss", result.epoch()).isFinite();
                    assertThat(result.ema().metric("Accuracy")).isBetween(0.0, 1.0);
                }
                assertThat(results.get(1).emaUpdates()).isEqualTo(16);
                assertThat(results.get(1).ema().loss()).isNotEqualTo(results.get(1).raw().loss());
                assertThat(results.get(1).raw().loss()).isEqualTo(Evaluation.of(net.trainer, validation).loss());
                try (EmaModel.Swap swap = listener.ema().swapIn()) {
                    assertThat(results.get(1).ema().loss()).isEqualTo(Evaluation.of(net.trainer, validation).loss());
                }
            }
        }
    }
}
