package com.example.ema4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.TrainingConfig;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.evaluator.Accuracy;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ema4j.core.policy.ParameterRule;
import ema4j.core.schedule.Preset;
import ema4j.djl.EmaModel;
import ema4j.djl.ParameterReport;
import ema4j.io.EmaFile;
import java.nio.file.Path;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** What users do with an EMA besides the quick start, on DJL's stock optimizers and Fashion-MNIST. */
class EmaScenariosTest {

    /** A model, its trainer and the data, closed together. */
    private static final class Run implements AutoCloseable {
        final NDManager manager = NDManager.newBaseManager();
        final Model model = Model.newInstance("mlp");
        final Trainer trainer;
        final Dataset train;
        final Dataset test;

        Run(TrainingConfig config) throws Exception {
            Engine.getInstance().setRandomSeed(11);
            train = FashionMnist.train(manager, Data.FASHION_MNIST_SUBSET, QuickStart.BATCH_SIZE);
            test = FashionMnist.test(manager, Data.FASHION_MNIST_SUBSET, 100);
            model.setBlock(QuickStart.mlp());
            trainer = model.newTrainer(config);
            trainer.initialize(QuickStart.INPUT);
        }

        Block block() {
            return model.getBlock();
        }

        /** One epoch, every EMA stepped after every optimizer step. */
        void epoch(EmaModel... emas) throws Exception {
            for (Batch batch : trainer.iterateDataset(train)) {
                try (batch) {
                    EasyTrain.trainBatch(trainer, batch);
                    trainer.step();
                    for (EmaModel ema : emas) {
                        ema.step();
                    }
                }
            }
        }

        @Override
        public void close() {
            trainer.close();
            model.close();
            manager.close();
        }
    }

    private static TrainingConfig withOptimizer(String optimizer) {
        Optimizer stock = optimizer.equals("adam") ? Optimizer.adam().build()
                : Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.1f)).optMomentum(0.9f).build();
        return new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss()).optOptimizer(stock)
                .addEvaluator(new Accuracy());
    }

    @Test
    void aShortAndALongEmaOfOneModelAverageSideBySide() throws Exception {
        try (Run run = new Run(QuickStart.config());
                EmaModel fast = EmaModel.track(run.block(), Preset.SHORT.schedule());
                EmaModel slow = EmaModel.track(run.block(), Preset.LONG.schedule())) {
            run.epoch(fast, slow);
            run.epoch(fast, slow);
            assertThat(slow.status().updates()).isEqualTo(fast.status().updates()).isEqualTo(80);
            assertThat(fast.status().lastDecay()).isEqualTo(Preset.SHORT.schedule().decayAt(79));
            assertThat(slow.status().lastDecay()).isEqualTo(Preset.LONG.schedule().decayAt(79));
            QuickStart.TestAccuracy withFast = QuickStart.evaluate(run.trainer, fast, run.test);
            QuickStart.TestAccuracy withSlow = QuickStart.evaluate(run.trainer, slow, run.test);
            assertThat(withFast.ema()).isGreaterThan(0.6);
            assertThat(withSlow.ema()).isGreaterThan(0.6);
            assertThat(withSlow.raw()).isEqualTo(withFast.raw());   // the live weights came back both times
            // while one EMA's weights are in the model, the other neither swaps nor updates
            fast.withEmaWeights(() -> {
                assertThatThrownBy(slow::swapIn).isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("another EMA");
                assertThatThrownBy(slow::step).isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("another EMA");
                return null;
            });
        }
    }

    @ParameterizedTest(name = "with DJL''s {0}")
    @ValueSource(strings = {"adam", "sgd"})
    void anEmaSavedToAFileResumesBitForBit(String optimizer, @TempDir Path dir) throws Exception {
        try (Run run = new Run(withOptimizer(optimizer));
                EmaModel ema = EmaModel.track(run.block(), Preset.SHORT.schedule())) {
            run.epoch(ema);
            Path file = dir.resolve("ema.safetensors");
            SavingTheEma.save(ema, file);

            try (EmaModel resumed = SavingTheEma.resume(run.block(), file)) {
                run.epoch(ema, resumed);
                assertThat(resumed.snapshot()).isEqualTo(ema.snapshot());
                assertThat(resumed.status().updates()).isEqualTo(80);
            }
            assertThatThrownBy(() -> EmaModel.builder(Preset.LONG.schedule()).resume(run.block(), EmaFile.load(file)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("schedule must be the snapshot's");
            Supplier<Block> wider = () -> new ai.djl.nn.SequentialBlock().add(ai.djl.nn.Blocks.batchFlattenBlock())
                    .add(Linear.builder().setUnits(300).build()).add(Linear.builder().setUnits(10).build());
            try (Model other = Model.newInstance("other")) {
                other.setBlock(wider.get());
                other.getBlock().initialize(other.getNDManager(), ai.djl.ndarray.types.DataType.FLOAT32,
                        QuickStart.INPUT);
                assertThatThrownBy(() -> EmaModel.builder(Preset.SHORT.schedule()).resume(other.getBlock(),
                        EmaFile.load(file))).isInstanceOf(IllegalArgumentException.class)
                        .hasMessageContaining("missing");
            }
        }
    }

    @Test
    void aModelWithTheEmaWeightsLoadsInPlainDjl(@TempDir Path dir) throws Exception {
        try (Run run = new Run(QuickStart.config());
                EmaModel ema = EmaModel.track(run.block(), Preset.SHORT.schedule())) {
            run.epoch(ema);
            SavingTheEma.saveEmaModel(ema, dir);
            float[] emaWeights = ema.withEmaWeights(() -> run.block().getParameters().valueAt(0).getArray()
                    .toFloatArray());
            try (Model loaded = Model.newInstance("mlp-ema")) {
                loaded.setBlock(QuickStart.mlp());
                loaded.load(dir, "mlp-ema");
                assertThat(loaded.getBlock().getParameters().valueAt(0).getArray().toFloatArray())
                        .containsExactly(emaWeights);
            }
        }
    }

    @Test
    void aLayerFrozenAtFirstIsAveragedFromTheFirstUpdateAfterItTrains() throws Exception {
        try (Run run = new Run(QuickStart.config())) {
            Block first = run.block().getChildren().values().stream().filter(b -> b instanceof Linear).findFirst()
                    .orElseThrow();
            first.freezeParameters(true);
            try (EmaModel ema = EmaModel.track(run.block(), Preset.SHORT.schedule())) {
                String weight = ema.parameters().stream().map(ParameterReport::name)
                        .filter(name -> name.endsWith("Linear_weight")).findFirst().orElseThrow();
                assertThat(rule(ema, weight)).isEqualTo(ParameterRule.COPY);
                run.epoch(ema);
                first.freezeParameters(false);
                run.epoch(ema);
                assertThat(rule(ema, weight)).isEqualTo(ParameterRule.AVERAGE);
                assertThat(ema.describeParameters()).containsPattern(weight + " .* average");
                float[] live = run.block().getParameters().get(weight).getArray().toFloatArray();
                float[] averaged = ema.withEmaWeights(() -> run.block().getParameters().get(weight).getArray()
                        .toFloatArray());
                assertThat(averaged).isNotEqualTo(live);
            }
        }
    }

    private static ParameterRule rule(EmaModel ema, String name) {
        return ema.parameters().stream().filter(r -> r.name().equals(name)).findFirst().orElseThrow().rule();
    }
}
