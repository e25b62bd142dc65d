package ema4j.djl;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.training.EasyTrain;
import ema4j.core.schedule.DecaySchedule;
import ema4j.core.schedule.Preset;
import java.util.List;
import org.junit.jupiter.api.Test;

class EmaTrainingTest {

    /** With decay 0 the EMA copies: it equals the live weights exactly only if it saw them after the last step. */
    private static void assertEmaHoldsTheFinalWeights(SmallNet net, EmaModel ema) {
        List<String> names = ema.state().names();
        for (int i = 0; i < names.size(); i++) {
            float[] live = net.values(names.get(i));
            double[] shadow = ema.state().shadowValues(i);
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
    void theListenerReportsRawAndEmaValidationEachEpoch() throws Exception {
        SmallNet[] holder = new SmallNet[1];
        EmaTrainingListener listener = new EmaTrainingListener(
                block -> EmaModel.track(block, Preset.SHORT.schedule()), null);
        try (SmallNet net = SmallNet.withListener(47, listener)) {
            holder[0] = net;
            EasyTrain.fit(net.trainer, 2, net.train, null);
            assertThat(listener.results()).hasSize(2);
            assertThat(listener.results().get(1).emaUpdates()).isEqualTo(16);
        }
    }
}
