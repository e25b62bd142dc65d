package ema4j.djl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.dataset.Batch;
import ai.djl.training.evaluator.Accuracy;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ema4j.core.EmaSnapshot;
import ema4j.core.schedule.Preset;
import org.junit.jupiter.api.Test;

class EmaOptimizerTest {
    private static final int EPOCHS = 2;

    /**
     * The EMA at every batch (when DJL's {@code onTrainingBatch} fires, before that batch's optimizer step) of
     * {@code EPOCHS} epochs of DJL's own Adam, stepped by an EmaOptimizer inside EasyTrain.fit, then at the end.
     */
    private static java.util.List<EmaSnapshot> underEasyTrainFit(long seed) throws Exception {
        java.util.List<EmaSnapshot> seen = new java.util.ArrayList<>();
        EmaModel[] tracked = new EmaModel[1];
        Engine.getInstance().setRandomSeed((int) seed);
        try (Model model = Model.newInstance("fit")) {
            model.setBlock(SmallNet.block());
            EmaOptimizer optimizer = EmaOptimizer.wrap(Optimizer.adam().build());
            ArrayDataset validation = SmallNet.data(model.getNDManager(), 64, seed + 1);
            EmaTrainingListener listener = EmaTrainingListener.validating(optimizer, validation);
            ai.djl.training.listener.TrainingListener watcher = new ai.djl.training.listener.TrainingListenerAdapter() {
                @Override
                public void onTrainingBatch(Trainer trainer, BatchData batchData) {
                    seen.add(tracked[0].snapshot());
                }
            };
            try (Trainer trainer = model.newTrainer(new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                    .optOptimizer(optimizer).addEvaluator(new Accuracy()).addTrainingListeners(listener, watcher))) {
                trainer.initialize(SmallNet.INPUT);
                EmaModel ema = optimizer.attach(EmaModel.track(model.getBlock(), Preset.SHORT.schedule()));
                tracked[0] = ema;
                assertThat(listener.ema()).as("the EMA before the first batch").isSameAs(ema);
                assertThatThrownBy(() -> optimizer.attach(ema)).isInstanceOf(IllegalStateException.class);
                ArrayDataset train = SmallNet.data(model.getNDManager(), 256, seed);
                EasyTrain.fit(trainer, EPOCHS, train, null);
                assertThat(ema.status().updates()).isEqualTo(EPOCHS * 256 / 32);
                assertThat(listener.results()).hasSize(EPOCHS);
                assertThat(listener.results().get(EPOCHS - 1).ema().metric("Accuracy")).isBetween(0.0, 1.0);
                seen.add(ema.snapshot());
                return seen;
            }
        }
    }

    /** The same training in a hand-written loop, the EMA stepped right after every trainer.step(). */
    private static java.util.List<EmaSnapshot> byHand(long seed) throws Exception {
        java.util.List<EmaSnapshot> seen = new java.util.ArrayList<>();
        Engine.getInstance().setRandomSeed((int) seed);
        try (Model model = Model.newInstance("loop")) {
            model.setBlock(SmallNet.block());
            ArrayDataset validation = SmallNet.data(model.getNDManager(), 64, seed + 1);
            assertThat(validation).isNotNull();   // made as in the other run, so the random streams agree
            try (Trainer trainer = model.newTrainer(new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                    .optOptimizer(Optimizer.adam().build()).addEvaluator(new Accuracy()))) {
                trainer.initialize(SmallNet.INPUT);
                EmaModel ema = EmaModel.track(model.getBlock(), Preset.SHORT.schedule());
                ArrayDataset train = SmallNet.data(model.getNDManager(), 256, seed);
                for (int epoch = 0; epoch < EPOCHS; epoch++) {
                    for (Batch batch : trainer.iterateDataset(train)) {
                        try (batch) {
                            seen.add(ema.snapshot());
                            EasyTrain.trainBatch(trainer, batch);
                            trainer.step();
                            ema.step();
                        }
                    }
                }
                seen.add(ema.snapshot());
                return seen;
            }
        }
    }

    @Test
    void underEasyTrainFitTheEmaIsAtEveryBatchBitIdenticalToOneSteppedAfterEveryTrainerStep() throws Exception {
        java.util.List<EmaSnapshot> fit = underEasyTrainFit(101);
        java.util.List<EmaSnapshot> loop = byHand(101);
        assertThat(fit).hasSize(EPOCHS * 256 / 32 + 1);
        assertThat(fit.get(fit.size() - 1).updates()).isEqualTo(16);
        for (int batch = 0; batch < fit.size(); batch++) {
            assertThat(fit.get(batch).updates()).as("updates before batch %d", batch).isEqualTo(batch);
            assertThat(fit.get(batch)).as("the EMA at batch %d", batch).isEqualTo(loop.get(batch));
        }
    }
}
