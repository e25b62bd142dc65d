package ema4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import ema4j.cli.report.MetricsWriter;
import ema4j.cli.report.Plots;
import ema4j.cli.report.SummaryTable;
import ema4j.cli.train.ProgressReporter;
import ema4j.cli.train.TrainingSession;
import ema4j.cli.train.TrainingSettings;
import ema4j.core.schedule.DecaySchedule;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code ema4j train}: trains a classifier on Fashion-MNIST with raw and EMA weights evaluated side by side. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Train a classifier (--model; a small CNN with BatchNorm by default) on Fashion-MNIST while"
                + " keeping an EMA of its weights;"
                + " evaluate raw and EMA weights on the test set; write metrics, plots and both models.")
final class TrainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions classifier = new ModelOptions();

    @Option(names = "--dropout", defaultValue = "0", paramLabel = "RATE",
            description = "Dropout rate of the ViT (--model vit) in [0, 1). Default: ${DEFAULT-VALUE}.")
    double dropout;

    @Option(names = "--epochs", defaultValue = "4", description = "Passes over the training set. Default: ${DEFAULT-VALUE}.")
    int epochs;

    @Option(names = "--batch-size", defaultValue = "128", description = "Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--optimizer", defaultValue = "sgd", description = "sgd (with momentum) or adam. Default: ${DEFAULT-VALUE}.")
    TrainingSettings.OptimizerKind optimizer;

    @Option(names = "--lr", description = "Learning rate. Default: 0.05 for sgd, 0.001 for adam.")
    Double learningRate;

    @Option(names = "--lr-schedule", defaultValue = "constant",
            description = "constant or cosine (to 1% of --lr at the end). Default: ${DEFAULT-VALUE}.")
    TrainingSettings.LearningRateSchedule learningRateSchedule;

    @Option(names = "--momentum", defaultValue = "0.9", description = "SGD momentum. Default: ${DEFAULT-VALUE}.")
    double momentum;

    @Option(names = "--seed", defaultValue = "42", description = "Seed of initialization and shuffling. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Mixin
    EngineOptions engine = new EngineOptions();

    @Mixin
    ScheduleOptions schedule = new ScheduleOptions();

    @Option(names = "--no-ema", description = "Train without an EMA (the baseline).")
    boolean noEma;

    @Option(names = {"--out", "-o"}, defaultValue = "runs/train", description = "Output directory. Default: ${DEFAULT-VALUE}.")
    Path out;

    @Option(names = "--eval-every", defaultValue = "200",
            description = "Evaluate raw and EMA weights every N steps (and at each epoch's end). Default: ${DEFAULT-VALUE}.")
    int evalEvery;

    @Mixin
    CheckpointOptions checkpoints = new CheckpointOptions();

    @Option(names = "--accept-changed-settings", description = "With --resume: continue although settings that decide"
            + " the trajectory (model, batch size, optimizer, learning rate and its schedule, momentum, seed, threads,"
            + " train limit) differ from the checkpoint's; the run is then no exact continuation.")
    boolean acceptChangedSettings;

    @Option(names = "--train-limit", defaultValue = "0", description = "Use only the first N training images (0: all).")
    int trainLimit;

    @Option(names = "--test-limit", defaultValue = "0", description = "Use only the first N test images (0: all).")
    int testLimit;

    @Mixin
    SnapshotOptions snapshots = new SnapshotOptions();

    @Mixin
    DataOptions data = new DataOptions();

    @Option(names = "--json", description = "Print the final summary as JSON.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        DecaySchedule ema = noEma ? null : schedule.schedule();
        double lr = learningRate != null ? learningRate : optimizer == TrainingSettings.OptimizerKind.ADAM ? 0.001 : 0.05;
        TrainingSettings settings = new TrainingSettings(data.files(), out, classifier.model, dropout, epochs,
                batchSize, optimizer, lr, learningRateSchedule, momentum, seed, engine.threads, ema,
                noEma ? "none" : schedule.label(), evalEvery, checkpoints.every, trainLimit, testLimit,
                checkpoints.keepLast, checkpoints.resume, snapshots.every, snapshots.sigmaRels);
        engine.configure();
        Files.createDirectories(out);
        PrintWriter stdout = spec.commandLine().getOut();
        boolean terminal = System.console() != null && !json;
        ProgressReporter progress = new ProgressReporter(json ? System.err : System.out, terminal,
                TrainingSession.totalSteps(settings, trainLimit > 0 ? trainLimit : 60_000));
        TrainingSession session = new TrainingSession(settings, progress, acceptChangedSettings);
        session.run();

        new MetricsWriter(out).write(settings.toMap(), session.rows(), session.trainLoss(),
                SummaryTable.of(session.rows()).toMap());
        Plots.trainingLoss(session.trainLoss(), session.rows(), out.resolve("loss.png"));
        Plots.testAccuracy(session.rows(), out.resolve("accuracy.png"));
        if (ema != null) {
            long last = Math.max(10, session.trainLoss().size());
            long[] xs = new long[200];
            double[] ys = new double[200];
            for (int i = 0; i < xs.length; i++) {
                xs[i] = Math.max(1, Math.round(Math.pow(last, i / (double) (xs.length - 1))));
                ys[i] = ema.decayAt(xs[i]);
            }
            Plots.decaySchedule(xs, ys, ema.toString(), out.resolve("decay.png"));
        }
        SummaryTable summary = SummaryTable.of(session.rows());
        if (json) {
            Map<String, Object> result = new LinkedHashMap<>(summary.toMap());
            result.put("out", out.toString());
            stdout.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(result));
        } else {
            stdout.println(summary.render());
            stdout.printf("EMA updates took %.2f s in all. Wrote %s: metrics.csv, metrics.json, loss.png, accuracy.png%s,"
                    + " checkpoints/, models/%s%n", session.emaSeconds(), out, ema == null ? "" : ", decay.png",
                    snapshots.every == 0 ? "" : ", posthoc/");
        }
        stdout.flush();
        return 0;
    }
}
