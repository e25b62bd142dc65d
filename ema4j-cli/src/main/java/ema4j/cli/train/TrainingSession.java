package ema4j.cli.train;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.evaluator.Accuracy;
import ai.djl.training.loss.Loss;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import ema4j.cli.report.EvaluationRow;
import ema4j.cli.report.TrainLossPoint;
import ema4j.demo.data.FashionMnistDataset;
import ema4j.demo.data.Split;
import ema4j.djl.EmaModel;
import ema4j.io.DirectoryLock;
import ema4j.io.checkpoint.Checkpoint;
import ema4j.training.ChangedSettingsException;
import ema4j.training.EvaluationRecord;
import ema4j.training.TrainingLoop;
import ema4j.training.TrainingProgress;
import ema4j.training.optim.CheckpointableAdam;
import ema4j.training.optim.CheckpointableOptimizer;
import ema4j.training.optim.CheckpointableSgd;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One training run of a classifier on Fashion-MNIST with an EMA beside it: diffusion_policy's loop, with the
 * test set evaluated on raw and EMA weights every {@code evalEvery} steps and at the end of every epoch.
 */
public final class TrainingSession {
    /** Directory under the output directory holding the checkpoints. */
    public static final String CHECKPOINTS = "checkpoints";
    /** Directory under the output directory holding both models in DJL's own format. */
    public static final String MODELS = "models";
    /** File name stem of the raw weights in the models directory. */
    public static final String RAW_NAME = "fmnist-raw";
    /** Directory under the output directory holding the post-hoc EMA snapshots. */
    public static final String POSTHOC = "posthoc";
    /** File name stem of the EMA weights in the models directory. */
    public static final String EMA_NAME = "fmnist-ema";
    private static final int EVAL_BATCH = 500;

    private final TrainingSettings settings;
    private final ProgressReporter progress;
    private final List<EvaluationRow> rows = new ArrayList<>();
    private final List<TrainLossPoint> trainLoss = new ArrayList<>();
    private double emaSeconds;
    private final boolean acceptChangedSettings;

    /**
     * @param settings the run's settings
     * @param progress where progress goes
     */
    public TrainingSession(TrainingSettings settings, ProgressReporter progress) {
        this(settings, progress, false);
    }

    /**
     * @param settings the run's settings
     * @param progress where progress goes
     * @param acceptChangedSettings whether a resume may change settings that decide the trajectory (on purpose)
     */
    public TrainingSession(TrainingSettings settings, ProgressReporter progress, boolean acceptChangedSettings) {
        this.settings = settings;
        this.progress = progress;
        this.acceptChangedSettings = acceptChangedSettings;
    }

    /** Optimizer steps of a run with these settings. */
    public static long totalSteps(TrainingSettings s, long trainSize) {
        return s.epochs() * ((trainSize + s.batchSize() - 1) / s.batchSize());
    }

    /**
     * Loads the data, trains (from a checkpoint when resuming), evaluates, checkpoints, and saves both models
     * under {@code out/models}.
     */
    public void run() throws IOException, TranslateException {
        try (DirectoryLock lock = DirectoryLock.acquire(settings.out(), "a training")) {
            train();
        }
    }

    private void train() throws IOException, TranslateException {
        FashionMnistDataset train = dataset(Split.TRAIN, settings.trainLimit());
        // a batch larger than the data set asks the engine for memory it cannot give
        requireArgument(settings.batchSize() <= train.size(), "--batch-size", "at most the " + train.size()
                + " training images", settings.batchSize());
        FashionMnistDataset test = dataset(Split.TEST, settings.testLimit());
        long totalSteps = TrainingLoop.stepsPerEpoch(train.size(), settings.batchSize()) * settings.epochs();
        try (Model model = Model.newInstance("fmnist", Device.cpu())) {
            model.setBlock(block());
            TrainingLoop.Builder builder = TrainingLoop.builder(model)
                    .loss(Loss.softmaxCrossEntropyLoss()).evaluators(new Accuracy())
                    .optimizer(optimizer(totalSteps))
                    .trainingData(train, settings.batchSize(), settings.epochs())
                    .inputShape(new Shape(settings.batchSize(), 1, 28, 28)).seed(settings.seed())
                    .validationData(test).evaluateEvery(settings.evalEvery())
                    .checkpoints(settings.out().resolve(CHECKPOINTS)).checkpointEvery(settings.checkpointEvery())
                    .keepLast(settings.keepLast()).resume(ProgressReporter.resume(settings.resume()))
                    .trajectory(settings.trajectory()).acceptChangedSettings(acceptChangedSettings)
                    .listener(listener());
            if (settings.schedule() != null) {
                builder.ema(EmaModel.builder(settings.schedule()));
            }
            if (settings.posthocEvery() > 0) {
                builder.postHoc(settings.posthocSigmaRels(), settings.posthocEvery(),
                        settings.out().resolve(POSTHOC));
            }
            try (TrainingLoop loop = builder.build()) {
                try {
                    loop.run();
                } catch (ChangedSettingsException e) {
                    throw new IllegalArgumentException("the settings of a resumed run must be the checkpoint's, for an"
                            + " exact continuation (add --accept-changed-settings to change them on purpose), was "
                            + e.differences().size() + " different: " + String.join("; ", e.differences()), e);
                }
                progress.finish();
                loop.evaluations().forEach(r -> rows.add(row(r)));
                List<Double> losses = loop.trainLoss();
                for (int i = 0; i < losses.size(); i++) {
                    trainLoss.add(new TrainLossPoint(i + 1, losses.get(i)));
                }
                emaSeconds = loop.emaSeconds();
                save(model, loop.ema());
            }
        }
    }

    /** A fresh block of the run's classifier, for training and for the averaged model. */
    private ai.djl.nn.Block block() {
        return settings.model().block((float) settings.dropout());
    }

    private TrainingLoop.Listener listener() {
        TrainingLoop.Listener reporting = progress.listener();
        return new TrainingLoop.Listener() {
            @Override
            public void onResume(Checkpoint checkpoint) {
                reporting.onResume(checkpoint);
            }

            @Override
            public void onStep(TrainingProgress p) {
                reporting.onStep(p);
            }

            @Override
            public void onEvaluation(EvaluationRecord r) {
                EvaluationRow row = row(r);
                progress.line(String.format("step %6d  epoch %d  train loss %.4f  test raw %.4f / %.2f%%  EMA %s",
                        row.step(), row.epoch(), row.trainLoss(), row.rawTestLoss(), 100 * row.rawTestAccuracy(),
                        r.ema() == null ? "-" : String.format("%.4f / %.2f%%  (decay %.5f)", row.emaTestLoss(),
                                100 * row.emaTestAccuracy(), row.decay())));
            }
        };
    }

    private static EvaluationRow row(EvaluationRecord r) {
        return new EvaluationRow(r.step(), r.epoch(), r.trainLoss(), r.raw().loss(), r.raw().metric("Accuracy"),
                r.ema() == null ? Double.NaN : r.ema().loss(), r.ema() == null ? Double.NaN
                        : r.ema().metric("Accuracy"), r.decay(), r.seconds());
    }

    /**
     * Saves the raw and the EMA model as a pair: both are written into a hidden folder first and moved into
     * {@code models/} only when both are complete, each file by an atomic rename, so a full disk leaves the earlier
     * pair as it was, not one new model beside an old one.
     */
    private void save(Model model, EmaModel ema) throws IOException {
        Path dir = settings.out().resolve(MODELS);
        Files.createDirectories(dir);
        Path staging = Files.createTempDirectory(settings.out(), ".models-");
        try {
            settings.model().save(model, staging, RAW_NAME);
            if (ema != null) {
                try (Model averaged = ema.averagedModel(EMA_NAME, this::block)) {
                    settings.model().save(averaged, staging, EMA_NAME);
                }
            }
            try (java.util.stream.Stream<Path> written = Files.list(staging)) {
                for (Path file : written.toList()) {
                    Files.move(file, dir.resolve(file.getFileName()), java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                            java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                }
            }
        } finally {
            try (java.util.stream.Stream<Path> left = Files.list(staging)) {
                for (Path file : left.toList()) {
                    Files.deleteIfExists(file);
                }
            }
            Files.deleteIfExists(staging);
        }
    }

    private CheckpointableOptimizer optimizer(long totalSteps) {
        float lr = (float) settings.learningRate();
        Tracker tracker = settings.learningRateSchedule() == TrainingSettings.LearningRateSchedule.COSINE
                ? Tracker.cosine().setBaseValue(lr).optFinalValue(lr / 100).setMaxUpdates((int) totalSteps).build()
                : Tracker.fixed(lr);
        return settings.optimizer() == TrainingSettings.OptimizerKind.ADAM
                ? CheckpointableAdam.builder().optLearningRateTracker(tracker).build()
                : CheckpointableSgd.builder().setLearningRateTracker(tracker).optMomentum((float) settings.momentum())
                        .build();
    }

    private FashionMnistDataset dataset(Split split, int limit) throws IOException {
        FashionMnistDataset.Builder b = FashionMnistDataset.builder().files(settings.files()).split(split)
                .setSampling(EVAL_BATCH, false);
        if (limit > 0) {
            b.limit(limit);
        }
        FashionMnistDataset d = b.build();
        d.prepare(null);
        return d;
    }

    /** Every evaluation, in order. */
    public List<EvaluationRow> rows() {
        return rows;
    }

    /** The training loss of every step. */
    public List<TrainLossPoint> trainLoss() {
        return trainLoss;
    }

    /** Seconds spent in EMA updates. */
    public double emaSeconds() {
        return emaSeconds;
    }
}
