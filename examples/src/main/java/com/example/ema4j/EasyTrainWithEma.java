package com.example.ema4j;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.ParallelBlock;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.nn.pooling.Pool;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.TrainingConfig;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.evaluator.Accuracy;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import ema4j.core.schedule.Preset;
import ema4j.djl.EmaModel;
import ema4j.djl.EmaOptimizer;
import ema4j.djl.EmaTrainingListener;
import ema4j.djl.EpochResult;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * ema4j inside DJL's {@code EasyTrain.fit}: a small residual CNN with BatchNorm, DJL's stock SGD with momentum wrapped
 * in an {@link EmaOptimizer}, which steps the EMA inside every {@code trainer.step()}, and an
 * {@link EmaTrainingListener} that validates the raw and the EMA weights after every epoch.
 */
public final class EasyTrainWithEma {
    private EasyTrainWithEma() {}

    /** Trains the residual CNN for {@code epochs} epochs on Fashion-MNIST in {@code data}; one result per epoch. */
    public static List<EpochResult> fit(Path data, int epochs) throws IOException, TranslateException {
        Engine.getInstance().setRandomSeed(42);
        try (NDManager manager = NDManager.newBaseManager();
                Model model = Model.newInstance("residual-cnn")) {
            Dataset train = FashionMnist.train(manager, data, 50);
            Dataset test = FashionMnist.test(manager, data, 100);
            model.setBlock(residualCnn());
            EmaOptimizer optimizer = EmaOptimizer.wrap(Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.05f))
                    .optMomentum(0.9f).build());
            EmaTrainingListener validation = EmaTrainingListener.validating(optimizer, test);
            TrainingConfig config = new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                    .optOptimizer(optimizer)
                    .addEvaluator(new Accuracy())
                    .addTrainingListeners(validation);
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(1, 1, 28, 28));
                try (EmaModel ema = optimizer.attach(EmaModel.track(model.getBlock(), Preset.SHORT.schedule()))) {
                    EasyTrain.fit(trainer, epochs, train, null);   // the EMA steps inside every trainer.step()
                    return validation.results();
                }
            }
        }
    }

    /** Conv-BN-ReLU and pooling, one residual block, pooling again, then 10 outputs. */
    public static Block residualCnn() {
        return new SequentialBlock()
                .add(conv(16))
                .add(BatchNorm.builder().build())
                .add(Activation::relu)
                .add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)))   // 14x14
                .add(residual(16))
                .add(Pool.maxPool2dBlock(new Shape(2, 2), new Shape(2, 2)))   // 7x7
                .add(Blocks.batchFlattenBlock())
                .add(Linear.builder().setUnits(10).build());
    }

    /** ResNet's basic block: {@code relu(x + bn(conv(relu(bn(conv(x))))))}, as many channels out as in. */
    private static Block residual(int channels) {
        Block path = new SequentialBlock()
                .add(conv(channels))
                .add(BatchNorm.builder().build())
                .add(Activation::relu)
                .add(conv(channels))
                .add(BatchNorm.builder().build());
        Block sum = new ParallelBlock(
                branches -> new NDList(branches.get(0).singletonOrThrow().add(branches.get(1).singletonOrThrow())),
                List.of(path, Blocks.identityBlock()));
        return new SequentialBlock().add(sum).add(Activation::relu);
    }

    private static Block conv(int filters) {
        return Conv2d.builder().setKernelShape(new Shape(3, 3)).optPadding(new Shape(1, 1)).setFilters(filters)
                .build();
    }
}
