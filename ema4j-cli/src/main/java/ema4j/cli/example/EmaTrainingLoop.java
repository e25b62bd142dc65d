package ema4j.cli.example;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.evaluator.Accuracy;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import ema4j.demo.data.FashionMnistDataset;
import ema4j.demo.data.FashionMnistFiles;
import ema4j.demo.data.Split;
import ema4j.demo.model.FashionCnn;
import ema4j.core.schedule.DecaySchedule;
import ema4j.djl.EmaModel;
import ema4j.djl.Evaluation;
import java.io.IOException;
import java.nio.file.Path;

/**
 * diffusion_policy's training loop in Java: after every optimizer step the EMA steps; after every epoch the
 * EMA weights are validated; at the end both models are saved. Run it with
 * {@code java -cp ... ema4j.cli.example.EmaTrainingLoop [epochs] [out-dir]}; it reads Fashion-MNIST from
 * {@code /usr/share/datasets/fashion-mnist}.
 */
public final class EmaTrainingLoop {
    private EmaTrainingLoop() {}

    /** Runs {@link #run} with the default data, 2 epochs and {@code runs/seed-loop} unless given. */
    public static void main(String[] args) throws IOException, TranslateException {
        int epochs = args.length > 0 ? Integer.parseInt(args[0]) : 2;
        Path out = Path.of(args.length > 1 ? args[1] : "runs/seed-loop");
        run(FashionMnistFiles.locateDefault(), epochs, 0, out);
    }

    /**
     * Trains the small CNN and returns the EMA weights' final test accuracy.
     *
     * @param files the Fashion-MNIST files
     * @param epochs passes over the training data
     * @param limit the first N training images, 0 for all
     * @param out where both models are saved
     */
    public static double run(FashionMnistFiles files, int epochs, int limit, Path out)
            throws IOException, TranslateException {
        Engine.getInstance().setRandomSeed(42);
        FashionMnistDataset train = FashionMnistDataset.builder().files(files).split(Split.TRAIN)
                .optLimit(limit > 0 ? limit : Long.MAX_VALUE).setSampling(128, true).build();
        FashionMnistDataset validation = FashionMnistDataset.builder().files(files).split(Split.TEST)
                .setSampling(500, false).build();
        train.prepare(null);
        validation.prepare(null);

        try (Model model = Model.newInstance("fmnist")) {
            model.setBlock(FashionCnn.block());
            DefaultTrainingConfig config = new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                    .optOptimizer(Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.05f)).optMomentum(0.9f).build())
                    .addEvaluator(new Accuracy());
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(128, 1, 28, 28));
                // the shadow model: the "short" preset (power 3/4, max 0.999), inv_gamma 1
                EmaModel ema = EmaModel.track(model.getBlock(), DecaySchedule.warmup()
                        .updateAfterStep(0).invGamma(1).power(3.0 / 4).minDecay(0).maxDecay(0.999).build());
                double accuracy = Double.NaN;
                for (int epoch = 1; epoch <= epochs; epoch++) {
                    for (Batch batch : trainer.iterateDataset(train)) {
                        try (batch) {
                            EasyTrain.trainBatch(trainer, batch);   // forward, loss, backward
                            trainer.step();                         // optimizer.step()
                            ema.step();                             // the key step: after every optimizer step
                        }
                    }
                    EmaModel.Swap emaWeights = ema.swapIn();                  // validate with the EMA model
                    try (emaWeights) {
                        Evaluation result = Evaluation.of(trainer, validation);
                        accuracy = result.metric("Accuracy");
                        System.out.printf("epoch %d: EMA validation loss %.4f, accuracy %.2f%%%n", epoch,
                                result.loss(), 100 * accuracy);
                    }
                }
                model.save(out, "fmnist");                                        // the trained model
                try (Model averaged = ema.averagedModel("fmnist-ema", FashionCnn::block)) {
                    averaged.save(out, "fmnist-ema");                             // the EMA model
                }
                return accuracy;
            }
        }
    }
}
