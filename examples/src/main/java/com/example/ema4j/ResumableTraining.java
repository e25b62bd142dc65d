package com.example.ema4j;

import ai.djl.Model;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.dataset.RandomAccessDataset;
import ai.djl.training.evaluator.Accuracy;
import ai.djl.training.loss.Loss;
import ai.djl.translate.TranslateException;
import ema4j.core.schedule.Preset;
import ema4j.djl.EmaModel;
import ema4j.training.EvaluationRecord;
import ema4j.training.Resume;
import ema4j.training.TrainingLoop;
import ema4j.training.optim.CheckpointableAdam;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * Training that survives being killed: ema4j's training loop checkpoints the model, the EMA, the optimizer, the
 * position in the data and the engine's random draws every 20 steps, and records post-hoc EMA snapshots. Start it
 * again with the same arguments after a kill (or a crash, or a pre-empted machine) and it resumes from the newest
 * checkpoint; the run ends bit for bit where an uninterrupted one would have.
 *
 * <p>Run it with {@code java -cp ... com.example.ema4j.ResumableTraining DATA OUT [EPOCHS]}, DATA holding
 * Fashion-MNIST's gzip IDX files; OUT gets {@code checkpoints/} and {@code posthoc/}.
 */
public final class ResumableTraining {
    /** The EMA lengths recorded for post-hoc reconstruction. */
    public static final List<Double> RECORDED_SIGMA_RELS = List.of(0.05, 0.10);

    private ResumableTraining() {}

    /** Trains (or resumes) on the data in {@code args[0]} into {@code args[1]} and prints the evaluations. */
    public static void main(String[] args) throws IOException, TranslateException {
        int epochs = args.length > 2 ? Integer.parseInt(args[2]) : 2;
        for (EvaluationRecord r : run(Path.of(args[0]), Path.of(args[1]), epochs)) {
            System.out.printf("step %d: raw %.4f, EMA %.4f%n", r.step(), r.raw().metric("Accuracy"),
                    r.ema().metric("Accuracy"));
        }
    }

    /**
     * Trains the quick start's MLP on Fashion-MNIST in {@code data} for {@code epochs} epochs, into {@code out},
     * resuming from its newest checkpoint if it has one.
     *
     * @return every evaluation of the run, those before a resume included
     */
    public static List<EvaluationRecord> run(Path data, Path out, int epochs) throws IOException, TranslateException {
        try (NDManager manager = NDManager.newBaseManager();
                Model model = Model.newInstance("mlp")) {
            RandomAccessDataset train = FashionMnist.train(manager, data, QuickStart.BATCH_SIZE);
            RandomAccessDataset test = FashionMnist.test(manager, data, 100);
            model.setBlock(QuickStart.mlp());
            try (TrainingLoop loop = TrainingLoop.builder(model)
                    .loss(Loss.softmaxCrossEntropyLoss()).evaluators(new Accuracy())
                    .optimizer(CheckpointableAdam.builder().build())
                    .trainingData(train, QuickStart.BATCH_SIZE, epochs)
                    .inputShape(new Shape(QuickStart.BATCH_SIZE, 1, 28, 28)).seed(42)
                    .ema(EmaModel.builder(Preset.SHORT.schedule()))
                    .validationData(test).evaluateEvery(20)
                    .checkpoints(out.resolve("checkpoints")).checkpointEvery(20).keepLast(2)
                    .postHoc(RECORDED_SIGMA_RELS, 10, out.resolve("posthoc"))
                    .resume(Resume.latestIfAny())
                    .build()) {
                loop.run();
                return loop.evaluations();
            }
        }
    }
}
