package ema4j.training;

import ai.djl.Model;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.nn.norm.Dropout;
import ai.djl.nn.pooling.Pool;
import ai.djl.training.evaluator.Accuracy;
import ai.djl.training.loss.Loss;
import ema4j.core.schedule.Preset;
import ema4j.demo.data.FashionMnistDataset;
import ema4j.demo.data.FashionMnistFiles;
import ema4j.demo.data.Split;
import ema4j.djl.EmaModel;
import ema4j.training.optim.CheckpointableAdam;
import java.nio.file.Path;
import java.util.List;
import java.util.function.UnaryOperator;

/**
 * A small training of a conv + BatchNorm + dropout classifier on 1,000 images of the committed Fashion-MNIST subset
 * through {@link TrainingLoop}: 2 epochs of 32 batches, an EMA, post-hoc recording, checkpoints every 5 steps.
 * Dropout makes the run depend on the engine's random draws, which an exact resume must reproduce.
 *
 * <p>{@link #main} runs it in a JVM of its own for the tests that kill training: {@code SubsetRun OUT fresh|resume}.
 */
final class SubsetRun {
    static final Path SUBSET = Path.of("../testdata/fashion-mnist-subset");
    static final int BATCH = 32;
    static final long STEPS = 64;

    private SubsetRun() {}

    public static void main(String[] args) throws Exception {
        Path out = Path.of(args[0]);
        Resume resume = args[1].equals("resume") ? Resume.latest() : Resume.none();
        try (Model model = Model.newInstance("subset")) {
            model.setBlock(block());
            try (TrainingLoop loop = builder(model, out, b -> b.resume(resume)).build()) {
                loop.run();
            }
        }
    }

    /** The classifier, fresh, with stable parameter names. */
    static Block block() {
        return new SequentialBlock()
                .add(Conv2d.builder().setKernelShape(new Shape(3, 3)).optPadding(new Shape(1, 1)).setFilters(8).build())
                .add(BatchNorm.builder().build())
                .add(Activation::relu)
                .add(Pool.maxPool2dBlock(new Shape(4, 4), new Shape(4, 4)))
                .add(Blocks.batchFlattenBlock())
                .add(Dropout.builder().optRate(0.3f).build())
                .add(Linear.builder().setUnits(10).build());
    }

    static FashionMnistDataset data(Split split, int limit) {
        return FashionMnistDataset.builder().files(FashionMnistFiles.locate(SUBSET)).split(split).limit(limit)
                .setSampling(100, false).build();
    }

    /** The run's loop options into {@code out}, changed by {@code change}. */
    static TrainingLoop.Builder builder(Model model, Path out, UnaryOperator<TrainingLoop.Builder> change) {
        TrainingLoop.Builder b = TrainingLoop.builder(model)
                .loss(Loss.softmaxCrossEntropyLoss()).evaluators(new Accuracy())
                .optimizer(CheckpointableAdam.builder().build())
                .trainingData(data(Split.TRAIN, 1000), BATCH, 2).inputShape(new Shape(BATCH, 1, 28, 28)).seed(11)
                .ema(EmaModel.builder(Preset.SHORT.schedule()))
                .validationData(data(Split.TEST, 200)).evaluateEvery(20)
                .checkpoints(out.resolve("checkpoints")).checkpointEvery(5).keepLast(2)
                .postHoc(List.of(0.05, 0.10), 10, out.resolve("posthoc"));
        return change.apply(b);
    }
}
