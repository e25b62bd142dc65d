package ema4j.demo.model;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.translate.TranslateException;
import ema4j.demo.data.FashionMnistDataset;
import ema4j.demo.data.FashionMnistFiles;
import ema4j.demo.data.Split;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;

/** What the classifiers' tests share: a forward pass of fresh weights, and a few optimizer steps on the subset. */
final class SubsetTraining {
    private static final Path SUBSET = Path.of("../testdata/fashion-mnist-subset");

    /**
     * The training loss on one fixed batch before and after the steps, and how many arrays the model's manager held
     * after each step (a forward pass that attaches its results to a parameter's manager keeps every step's graph).
     */
    record LossChange(float before, float after, List<Integer> modelArraysAfterEachStep) {
        /** Whether the steps after the first (which creates the optimizer's state) left no arrays behind. */
        boolean leavesNoArraysBehind() {
            return modelArraysAfterEachStep.size() > 2
                    && modelArraysAfterEachStep.stream().skip(1).distinct().count() == 1;
        }
    }

    private SubsetTraining() {}

    /** The parameter names of a block, in order. */
    static List<String> parameterNames(Block block) {
        List<String> names = new ArrayList<>();
        block.getParameters().forEach(p -> names.add(p.getKey()));
        return names;
    }

    /** How many numbers the trainable parameters of the initialized block hold (BatchNorm's statistics not counted). */
    static long trainableParameterCount(Block block) {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            block.initialize(manager, DataType.FLOAT32, new Shape(1, 1, 28, 28));
            long count = 0;
            for (Parameter parameter : block.getParameters().values()) {
                count += parameter.requiresGradient() ? parameter.getArray().size() : 0;
            }
            return count;
        }
    }

    /** Initializes {@code block} with seeded weights and runs a batch of {@code images} zero images through it. */
    static Shape outputShape(Block block, NDManager manager, int images) {
        Engine.getInstance().setRandomSeed(7);
        Shape input = new Shape(images, 1, 28, 28);
        block.initialize(manager, DataType.FLOAT32, input);
        NDArray output = block.forward(new ParameterStore(manager, false), new NDList(manager.zeros(input)), false)
                .singletonOrThrow();
        return output.getShape();
    }

    /**
     * Measures the cross-entropy on the first batch of the subset's training part, takes {@code steps} optimizer
     * steps on the following batches, and measures it again on the first batch.
     */
    static LossChange train(Block block, Optimizer optimizer, int steps, int batchSize)
            throws IOException, TranslateException {
        Engine.getInstance().setRandomSeed(11);
        FashionMnistDataset dataset = FashionMnistDataset.builder().files(FashionMnistFiles.locate(SUBSET))
                .split(Split.TRAIN).limit((long) batchSize * (steps + 1)).setSampling(batchSize, false).build();
        try (Model model = Model.newInstance("subset")) {
            model.setBlock(block);
            try (Trainer trainer = model.newTrainer(
                    new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss()).optOptimizer(optimizer))) {
                trainer.initialize(new Shape(batchSize, 1, 28, 28));
                Iterator<Batch> batches = trainer.iterateDataset(dataset).iterator();
                NDList first;
                try (Batch batch = batches.next()) {
                    first = new NDList(batch.getData().head().duplicate(), batch.getLabels().head().duplicate());
                    first.attach(model.getNDManager());
                }
                float before = loss(trainer, first);
                List<Integer> modelArrays = new ArrayList<>();
                while (batches.hasNext()) {
                    try (Batch batch = batches.next(); GradientCollector collector = trainer.newGradientCollector()) {
                        NDList prediction = trainer.forward(batch.getData());
                        collector.backward(trainer.getLoss().evaluate(batch.getLabels(), prediction));
                    }
                    trainer.step();
                    modelArrays.add(model.getNDManager().getManagedArrays().size());
                }
                float after = loss(trainer, first);
                return new LossChange(before, after, modelArrays);
            }
        }
    }

    /** The loss on (images, labels) in training mode, as the optimizer sees it. */
    private static float loss(Trainer trainer, NDList imagesAndLabels) {
        NDList prediction = trainer.forward(new NDList(imagesAndLabels.get(0)));
        return trainer.getLoss().evaluate(new NDList(imagesAndLabels.get(1)), prediction).getFloat();
    }
}
