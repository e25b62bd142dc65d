package ema4j.training.optim;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.Block;
import ai.djl.nn.Blocks;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.convolutional.Conv2d;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.util.Pair;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;

/**
 * A Conv2d + BatchNorm + Linear classifier trained step by step on fixed random batches: batch {@code i} holds the
 * same data in every run, so two runs that start from the same weights and optimizer state must end identical.
 */
final class TrainingRun implements AutoCloseable {
    private static final int BATCH = 8;
    private static final Shape INPUT = new Shape(BATCH, 1, 8, 8);

    final Model model;
    final Trainer trainer;

    /**
     * Initializes the model from {@code seed}; binds a {@link CheckpointableOptimizer} when {@code bind} is set and
     * freezes the last Linear layer (child 6) when {@code freezeLast} is set.
     */
    TrainingRun(int seed, Optimizer optimizer, boolean bind, boolean freezeLast) {
        Engine.getInstance().setRandomSeed(seed);
        model = Model.newInstance("tiny");
        model.setBlock(new SequentialBlock()
                .add(Conv2d.builder().setKernelShape(new Shape(3, 3)).setFilters(4).build())
                .add(BatchNorm.builder().build())
                .add(Activation::relu)
                .add(Blocks.batchFlattenBlock())
                .add(Linear.builder().setUnits(16).build())
                .add(Activation::relu)
                .add(Linear.builder().setUnits(3).build()));
        trainer = model.newTrainer(new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss()).optOptimizer(optimizer));
        trainer.initialize(INPUT);
        if (freezeLast) {
            model.getBlock().getChildren().get(6).getValue().freezeParameters(true);
        }
        if (bind) {
            ((CheckpointableOptimizer) optimizer).bind(model.getBlock());
        }
    }

    TrainingRun(int seed, Optimizer optimizer) {
        this(seed, optimizer, optimizer instanceof CheckpointableOptimizer, false);
    }

    /** Takes one optimizer step on each of the batches {@code from} (inclusive) to {@code to} (exclusive). */
    void train(int from, int to) {
        for (int i = from; i < to; i++) {
            Random random = new Random(1_000 + i);
            float[] features = new float[Math.toIntExact(INPUT.size())];
            for (int j = 0; j < features.length; j++) {
                features[j] = (float) random.nextGaussian();
            }
            float[] labels = new float[BATCH];
            for (int j = 0; j < BATCH; j++) {
                labels[j] = random.nextInt(3);
            }
            try (NDManager batch = model.getNDManager().newSubManager();
                    GradientCollector collector = trainer.newGradientCollector()) {
                NDList prediction = trainer.forward(new NDList(batch.create(features, INPUT)));
                collector.backward(trainer.getLoss().evaluate(new NDList(batch.create(labels)), prediction));
            }
            trainer.step();
        }
    }

    Block block() {
        return model.getBlock();
    }

    /** Every parameter's values by name, BatchNorm running statistics included. */
    Map<String, float[]> weights() {
        Map<String, float[]> weights = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : block().getParameters()) {
            weights.put(p.getKey(), p.getValue().getArray().toFloatArray());
        }
        return weights;
    }

    /** Overwrites every parameter with the values {@code other}'s parameter of the same name has. */
    void copyWeightsFrom(TrainingRun other) {
        Map<String, float[]> source = other.weights();
        for (Pair<String, Parameter> p : block().getParameters()) {
            p.getValue().getArray().set(FloatBuffer.wrap(source.get(p.getKey())));
        }
    }

    /** Copies state arrays into little-endian float32 bytes, as a checkpoint would store them. */
    static Map<String, ByteBuffer> copy(Map<String, NDArray> slots) {
        Map<String, ByteBuffer> bytes = new LinkedHashMap<>();
        slots.forEach((key, array) -> {
            float[] values = array.toFloatArray();
            ByteBuffer buffer = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            buffer.asFloatBuffer().put(values);
            bytes.put(key, buffer);
        });
        return bytes;
    }

    /** Asserts both maps name the same parameters and every value is the same float, bit for bit. */
    static void assertBitIdentical(Map<String, float[]> actual, Map<String, float[]> expected) {
        assertThat(actual).containsOnlyKeys(expected.keySet());
        expected.forEach((name, values) -> assertThat(actual.get(name)).as(name).containsExactly(values));
    }

    @Override
    public void close() {
        trainer.close();
        model.close();
    }
}
