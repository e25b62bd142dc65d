package com.example.ema4j;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.TrainingConfig;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.evaluator.Accuracy;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.translate.TranslateException;
import ema4j.core.schedule.Preset;
import ema4j.djl.EmaModel;
import ema4j.djl.Evaluation;
import java.io.IOException;
import java.nio.file.Path;

/**
 * ema4j's quick start: a small MLP trained with Adam in a hand-written loop, an EMA of its weights stepped after
 * every optimizer step, and the test accuracy of the live weights and of the EMA weights. The README quotes
 * {@link #train} and {@link #evaluate}.
 *
 * <p>Run it with {@code java --add-modules jdk.incubator.vector -cp ... com.example.ema4j.QuickStart DIR [EPOCHS]},
 * DIR holding Fashion-MNIST's gzip IDX files.
 */
public final class QuickStart {
    /** Images per training batch. */
    public static final int BATCH_SIZE = 50;
    /** The shape of one input: one 28x28 grey image. */
    public static final Shape INPUT = new Shape(1, 1, 28, 28);

    private QuickStart() {}

    /** Test accuracy, in [0, 1], with the live (raw) weights and with the EMA weights. */
    public record TestAccuracy(double raw, double ema) {}

    /** Trains on Fashion-MNIST in {@code args[0]} for {@code args[1]} epochs (8 if not given) and prints both. */
    public static void main(String[] args) throws IOException, TranslateException {
        int epochs = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        TestAccuracy accuracy = run(Path.of(args[0]), epochs);
        System.out.printf("test accuracy: raw %.4f, EMA %.4f%n", accuracy.raw(), accuracy.ema());
    }

    /** Trains the MLP for {@code epochs} epochs on Fashion-MNIST in {@code data} and returns both test accuracies. */
    public static TestAccuracy run(Path data, int epochs) throws IOException, TranslateException {
        Engine.getInstance().setRandomSeed(42);
        try (NDManager manager = NDManager.newBaseManager();
                Model model = Model.newInstance("mlp")) {
            Dataset train = FashionMnist.train(manager, data, BATCH_SIZE);
            Dataset test = FashionMnist.test(manager, data, 100);
            model.setBlock(mlp());
            try (Trainer trainer = model.newTrainer(config())) {
                trainer.initialize(INPUT);
                try (EmaModel ema = train(trainer, train, epochs)) {
                    return evaluate(trainer, ema, test);
                }
            }
        }
    }

    /** A small MLP for 28x28 images: 256 hidden units with LayerNorm, ReLU and Dropout, then 10 outputs. */
    public static Block mlp() {
        return new SequentialBlock()
                .add(Blocks.batchFlattenBlock())
                .add(Linear.builder().setUnits(256).build())
                .add(LayerNorm.builder().build())
                .add(Activation::relu)
                .add(Dropout.builder().optRate(0.2f).build())
                .add(Linear.builder().setUnits(10).build());
    }

    /** Softmax cross-entropy, DJL's stock Adam and an accuracy evaluator. */
    public static TrainingConfig config() {
        return new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                .optOptimizer(Optimizer.adam().build())
                .addEvaluator(new Accuracy());
    }

    /** Trains for {@code epochs} epochs with an EMA of the weights; the caller closes the EMA. */
    public static EmaModel train(Trainer trainer, Dataset train, int epochs) throws IOException, TranslateException {
        EmaModel ema = EmaModel.track(trainer.getModel().getBlock(), Preset.SHORT.schedule());
        for (int epoch = 1; epoch <= epochs; epoch++) {
            for (Batch batch : trainer.iterateDataset(train)) {
                try (batch) {
                    EasyTrain.trainBatch(trainer, batch);   // forward, loss, backward
                    trainer.step();                         // the optimizer step
                    ema.step();                             // then the EMA: after every optimizer step
                }
            }
        }
        return ema;
    }

    /** Test accuracy with the live weights, then with the EMA weights swapped in. */
    public static TestAccuracy evaluate(Trainer trainer, EmaModel ema, Dataset test)
            throws IOException, TranslateException {
        double raw = Evaluation.of(trainer, test).metric("Accuracy");
        EmaModel.Swap emaWeights = ema.swapIn();          // the EMA weights in
        try (emaWeights) {
            return new TestAccuracy(raw, Evaluation.of(trainer, test).metric("Accuracy"));
        }                                                   // live weights back, bit-exact
    }
}
