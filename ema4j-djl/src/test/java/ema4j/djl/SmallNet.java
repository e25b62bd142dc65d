package ema4j.djl;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.ArrayDataset;
import ai.djl.training.evaluator.Accuracy;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;

/** A Conv2d + BatchNorm + Linear classifier on random 8x8 images, small enough to train in milliseconds. */
final class SmallNet implements AutoCloseable {
    static final Shape INPUT = new Shape(1, 1, 8, 8);

    final Model model;
    final Trainer trainer;
    final EmaOptimizer optimizer;
    final ArrayDataset train;
    final ArrayDataset validation;

    SmallNet(long seed, boolean freezeLast,
            java.util.function.BiFunction<DefaultTrainingConfig, EmaOptimizer, DefaultTrainingConfig> configure) {
        Engine.getInstance().setRandomSeed((int) seed);
        model = Model.newInstance("small");
        model.setBlock(block());
        optimizer = EmaOptimizer.wrap(Optimizer.sgd()
                .setLearningRateTracker(Tracker.fixed(0.1f)).optMomentum(0.9f).build());
        DefaultTrainingConfig config = new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                .optOptimizer(optimizer).addEvaluator(new Accuracy());
        trainer = model.newTrainer(configure.apply(config, optimizer));
        trainer.initialize(INPUT);
        if (freezeLast) {
            Block last = model.getBlock().getChildren().get(6).getValue();
            last.freezeParameters(true);
        }
        NDManager manager = model.getNDManager();
        train = data(manager, 256, seed);
        validation = data(manager, 64, seed + 1);
    }

    SmallNet(long seed) {
        this(seed, false, (c, optimizer) -> c);
    }

    /** Conv2d, BatchNorm, ReLU, flatten, Linear, ReLU, Linear: children 0..6. */
    static Block block() {
        return new SequentialBlock()
                .add(Conv2d.builder().setKernelShape(new Shape(3, 3)).setFilters(4).build())
                .add(BatchNorm.builder().build())
                .add(Activation::relu)
                .add(Blocks.batchFlattenBlock())
                .add(Linear.builder().setUnits(16).build())
                .add(Activation::relu)
                .add(Linear.builder().setUnits(3).build());
    }

    /** {@code n} random images with labels that depend on them, in batches of 32, made by {@code manager}. */
    static ArrayDataset data(NDManager manager, int n, long seed) {
        NDManager sub = manager.newSubManager();
        NDArray x = sub.randomNormal(new Shape(n, 1, 8, 8));
        NDArray y = x.reshape(n, 64).mean(new int[] {1}).gt(0).toType(ai.djl.ndarray.types.DataType.FLOAT32, false)
                .add(x.get(":, 0, 0, 0").gt(0.5f).toType(ai.djl.ndarray.types.DataType.FLOAT32, false));
        return new ArrayDataset.Builder().setData(x).optLabels(y).setSampling(32, false).build();
    }

    /** A net whose trainer has the listener {@code listener} makes of the net's optimizer. */
    static SmallNet withListener(long seed, java.util.function.Function<EmaOptimizer, TrainingListener> listener) {
        return new SmallNet(seed, false, (c, optimizer) -> c.addTrainingListeners(listener.apply(optimizer)));
    }

    float[] values(String name) {
        return model.getBlock().getParameters().get(name).getArray().toFloatArray();
    }

    @Override
    public void close() {
        trainer.close();
        model.close();
    }
}
