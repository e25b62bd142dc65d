package ema4j.demo.diffusion;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.offset;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import ema4j.demo.data.FashionMnistDataset;
import ema4j.demo.data.FashionMnistFiles;
import ema4j.demo.data.Split;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class DdpmTrainingTest {
    private static final Path SUBSET = Path.of("../testdata/fashion-mnist-subset");

    @Test
    void theSameSeedDrawsTheSameTimestepsAndNoise() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            NDArray images = manager.randomUniform(0, 1, new Shape(4, 1, 28, 28));

            DdpmTraining.NoisedBatch first = new DdpmTraining(NoiseSchedule.ddpm()).noise(images, 5);
            DdpmTraining.NoisedBatch again = new DdpmTraining(NoiseSchedule.ddpm()).noise(images, 5);
            DdpmTraining.NoisedBatch other = new DdpmTraining(NoiseSchedule.ddpm()).noise(images, 6);

            assertThat(again.inputs().get(0).toFloatArray()).isEqualTo(first.inputs().get(0).toFloatArray());
            assertThat(again.inputs().get(1).toFloatArray()).isEqualTo(first.inputs().get(1).toFloatArray());
            assertThat(again.labels().head().toFloatArray()).isEqualTo(first.labels().head().toFloatArray());
            assertThat(other.labels().head().toFloatArray()).isNotEqualTo(first.labels().head().toFloatArray());
        }
    }

    @Test
    void theInputsAreTheImagesNoisedToTheirTimestepsAndTheLabelIsTheNoise() {
        NoiseSchedule schedule = NoiseSchedule.ddpm();
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            NDArray images = manager.randomUniform(0, 1, new Shape(64, 1, 28, 28));

            DdpmTraining.NoisedBatch noised = new DdpmTraining(schedule).noise(images, 5);

            NDArray timesteps = noised.inputs().get(1);
            assertThat(timesteps.getShape()).isEqualTo(new Shape(64));
            for (float t : timesteps.toFloatArray()) {
                assertThat(t).isBetween(0f, 999f).isEqualTo((float) Math.rint(t));
            }
            NDArray noise = noised.labels().singletonOrThrow();
            assertThat(noise.getShape()).isEqualTo(images.getShape());
            NDArray expected = schedule.qSample(images.mul(2).sub(1), timesteps, noise);
            assertThat(noised.inputs().get(0).toFloatArray()).isEqualTo(expected.toFloatArray());
        }
    }

    @Test
    void aFewStepsOnTheSubsetLowerTheDenoisingLoss() throws IOException, TranslateException {
        FashionMnistDataset dataset = FashionMnistDataset.builder().files(FashionMnistFiles.locate(SUBSET))
                .split(Split.TRAIN).limit(16).setSampling(16, false).build();
        Engine.getInstance().setRandomSeed(3);
        try (Model model = Model.newInstance("ddpm")) {
            model.setBlock(FashionUNet.block());
            DefaultTrainingConfig config = new DefaultTrainingConfig(DdpmTraining.loss())
                    .optOptimizer(Optimizer.adam().optLearningRateTracker(Tracker.fixed(2e-3f)).build());
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(16, 1, 28, 28), new Shape(16));
                NDArray images = dataset.getData(model.getNDManager()).iterator().next().getData().head();
                DdpmTraining.NoisedBatch held = new DdpmTraining(NoiseSchedule.ddpm()).noise(images, 99);
                float before = loss(trainer, held).getFloat();

                DdpmTraining ddpm = new DdpmTraining(NoiseSchedule.ddpm());
                for (int step = 0; step < 8; step++) {
                    try (NDManager scope = model.getNDManager().newSubManager();
                            GradientCollector collector = trainer.newGradientCollector()) {
                        images.tempAttach(scope);
                        DdpmTraining.NoisedBatch noised = ddpm.noise(images, step);
                        collector.backward(loss(trainer, noised));
                    }
                    trainer.step();
                }

                float after = loss(trainer, held).getFloat();
                assertThat(after).isLessThan(before * 0.7f);
            }
        }
    }

    private static NDArray loss(Trainer trainer, DdpmTraining.NoisedBatch noised) {
        return trainer.getLoss().evaluate(noised.labels(), trainer.forward(noised.inputs()));
    }

    @Test
    void theGradientOfTheLossSurvivesAGarbageCollectionBeforeBackward() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            NDArray predicted = manager.create(new float[] {1, 2, 3, 4});
            predicted.setRequiresGradient(true);
            NDList drawn = new NDList(manager.create(new float[] {1, 0, 3, 0}));
            try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                NDArray loss = DdpmTraining.loss().evaluate(drawn, new NDList(predicted));
                DiffusionFixtures.collectGarbage();
                collector.backward(loss);
            }

            // d/dp mean((d - p)^2) = 2 (p - d) / 4, exact in float32 (zeros of either sign)
            assertThat(predicted.getGradient().toFloatArray()).containsExactly(new float[] {0, 1, 0, 2}, offset(0f));
        }
    }

    @Test
    void theLossIsTheMeanSquaredError() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            NDList predicted = new NDList(manager.create(new float[] {1, 2, 3, 4}));
            NDList drawn = new NDList(manager.create(new float[] {1, 0, 3, 0}));

            assertThat(DdpmTraining.loss().evaluate(drawn, predicted).getFloat()).isEqualTo(5f);
        }
    }

    @Test
    void aMissingScheduleIsRefused() {
        assertThatThrownBy(() -> new DdpmTraining(null)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("schedule must be non-null, was null");
    }
}
