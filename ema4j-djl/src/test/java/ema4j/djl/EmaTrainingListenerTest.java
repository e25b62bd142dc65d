package ema4j.djl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDManager;
import ai.djl.training.EasyTrain;
import ai.djl.training.dataset.ArrayDataset;
import ema4j.core.schedule.DecaySchedule;
import ema4j.core.schedule.Preset;
import java.util.List;
import org.junit.jupiter.api.Test;

class EmaTrainingListenerTest {

    @Test
    void underEasyTrainFitTheEmaHoldsThePostStepWeightsOfTheLastStep() throws Exception {
        try (SmallNet net = SmallNet.withListener(43, optimizer -> EmaTrainingListener.validating(optimizer, null))) {
            // decay 0 copies: the EMA equals the live weights exactly only if it saw them after the last step
            EmaModel ema = net.optimizer.attach(EmaModel.track(net.model.getBlock(), DecaySchedule.constant(0)));
            EasyTrain.fit(net.trainer, 2, net.train, null);
            assertThat(ema.status().updates()).isEqualTo(16).isEqualTo(net.optimizer.steps());
            List<String> names = Shadows.names(ema);
            for (int i = 0; i < names.size(); i++) {
                float[] live = net.values(names.get(i));
                double[] shadow = Shadows.of(ema, i);
                for (int k = 0; k < live.length; k++) {
                    assertThat(shadow[k]).as(names.get(i)).isEqualTo(live[k]);
                }
            }
        }
    }

    @Test
    void itValidatesRawAndEmaWeightsEveryEpoch() throws Exception {
        try (NDManager manager = NDManager.newBaseManager()) {
            ArrayDataset validation = SmallNet.data(manager, 64, 48);
            EmaTrainingListener[] listener = new EmaTrainingListener[1];
            try (SmallNet net = SmallNet.withListener(47,
                    optimizer -> listener[0] = EmaTrainingListener.validating(optimizer, validation))) {
                net.optimizer.attach(EmaModel.track(net.model.getBlock(), Preset.SHORT.schedule()));
                EasyTrain.fit(net.trainer, 2, net.train, null);
                List<EpochResult> results = listener[0].results();
                assertThat(results).extracting(EpochResult::epoch).containsExactly(1, 2);
                assertThat(results.get(1).emaUpdates()).isEqualTo(16);
                assertThat(results.get(1).ema().loss()).isNotEqualTo(results.get(1).raw().loss());
                assertThat(results.get(1).raw().loss()).isEqualTo(Evaluation.of(net.trainer, validation).loss());
                try (EmaModel.Swap swap = listener[0].ema().swapIn()) {
                    assertThat(results.get(1).ema().loss()).isEqualTo(Evaluation.of(net.trainer, validation).loss());
                }
            }
        }
    }

    @Test
    void itNeedsTheOptimizerThatStepsTheEma() {
        assertThatThrownBy(() -> EmaTrainingListener.validating(null, null))
                .hasMessage("optimizer must be non-null, was null");
    }
}
