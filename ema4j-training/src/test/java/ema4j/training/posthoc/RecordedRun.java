package ema4j.training.posthoc;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Activation;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ema4j.core.policy.ParameterRule;
import ema4j.djl.EmaModel;
import ema4j.djl.ParameterReport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * A Linear + BatchNorm + Linear classifier trained with SGD for {@link #STEPS} steps in a plain loop on random
 * batches labelled by a fixed linear teacher, a {@link PostHocRecorder} tracking {@link #SIGMA_RELS} and recording
 * every {@link #EVERY} steps.
 */
final class RecordedRun {
    static final List<Double> SIGMA_RELS = List.of(0.05, 0.10, 0.15);
    static final int STEPS = 60;
    static final int EVERY = 5;
    static final Shape INPUT = new Shape(16, 8);

    private RecordedRun() {}

    /** The architecture, uninitialized. */
    static SequentialBlock block() {
        return new SequentialBlock()
                .add(Linear.builder().setUnits(12).build())
                .add(BatchNorm.builder().build())
                .add(Activation::relu)
                .add(Linear.builder().setUnits(3).build());
    }

    /** The architecture, initialized from the engine's random state, in {@code manager}. */
    static SequentialBlock freshBlock(NDManager manager) {
        SequentialBlock block = block();
        block.initialize(manager, DataType.FLOAT32, INPUT);
        return block;
    }

    /**
     * Trains and records into {@code snapshots}.
     *
     * @return the rule each parameter of the recorded EMAs had, by name
     */
    static Map<String, ParameterRule> record(Path snapshots) throws IOException {
        Engine.getInstance().setRandomSeed(11);
        Random random = new Random(11);
        float[] teacher = new float[8 * 3];
        for (int i = 0; i < teacher.length; i++) {
            teacher[i] = (float) random.nextGaussian();
        }
        try (Model model = Model.newInstance("posthoc")) {
            model.setBlock(block());
            try (Trainer trainer = model.newTrainer(new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                    .optOptimizer(Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.2f)).build()))) {
                trainer.initialize(INPUT);
                PostHocRecorder recorder = PostHocRecorder.start(model.getBlock(), SIGMA_RELS, EVERY, snapshots);
                for (int step = 1; step <= STEPS; step++) {
                    trainOneBatch(trainer, model, random, teacher);
                    recorder.step();
                    recorder.recordIfDue(step, step == STEPS);
                }
                Map<String, ParameterRule> rules = new LinkedHashMap<>();
                for (EmaModel ema : recorder.checkpointed().values()) {
                    for (ParameterReport p : ema.parameters()) {
                        rules.put(p.name(), p.rule());
                    }
                    ema.close();
                }
                return rules;
            }
        }
    }

    private static void trainOneBatch(Trainer trainer, Model model, Random random, float[] teacher) {
        int batch = Math.toIntExact(INPUT.get(0));
        float[] features = new float[Math.toIntExact(INPUT.size())];
        float[] labels = new float[batch];
        for (int j = 0; j < batch; j++) {
            double best = Double.NEGATIVE_INFINITY;
            for (int k = 0; k < 8; k++) {
                features[8 * j + k] = (float) (2 + random.nextGaussian());
            }
            for (int c = 0; c < 3; c++) {
                double score = 0;
                for (int k = 0; k < 8; k++) {
                    score += features[8 * j + k] * teacher[3 * k + c];
                }
                if (score > best) {
                    best = score;
                    labels[j] = c;
                }
            }
        }
        try (NDManager manager = model.getNDManager().newSubManager();
                GradientCollector collector = trainer.newGradientCollector()) {
            NDList prediction = trainer.forward(new NDList(manager.create(features, INPUT)));
            collector.backward(trainer.getLoss().evaluate(new NDList(manager.create(labels)), prediction));
        }
        trainer.step();
    }
}
