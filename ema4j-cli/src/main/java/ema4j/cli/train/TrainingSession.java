package ema4j.cli.train;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.evaluator.Accuracy;
import ai.djl.training.loss.Loss;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import com.fasterxml.jackson.databind.JsonNode;
import ema4j.demo.data.FashionMnistDataset;
import ema4j.demo.data.Split;
import ema4j.demo.model.FashionCnn;
import ema4j.cli.report.EvaluationRow;
import ema4j.cli.report.TrainLossPoint;
import ema4j.djl.EmaModel;
import ema4j.training.EpochSampler;
import ema4j.training.posthoc.PostHocRecorder;
import ema4j.djl.Evaluation;
import ema4j.training.TrainingCheckpoint;
import ema4j.training.optim.CheckpointableAdam;
import ema4j.training.optim.CheckpointableOptimizer;
import ema4j.training.optim.CheckpointableSgd;
import ema4j.io.DirectoryLock;
import ema4j.io.checkpoint.Checkpoint;
import ema4j.io.checkpoint.CheckpointStore;
import ema4j.io.checkpoint.ScheduleCodec;
import ema4j.io.checkpoint.StrictFields;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One training run of the small CNN on Fashion-MNIST with an EMA beside it: diffusion_policy's loop, with the
 * test set evaluated on raw and EMA weights every {@code evalEvery} steps and at the end of every epoch.
 */
public final class TrainingSession {
    /** Directory under the output directory holding the checkpoints. */
    public static final String CHECKPOINTS = "checkpoints";
    /** Directory under the output directory holding both models in DJL's own format. */
    public static final String MODELS = "models";
    /** File name stem of the raw weights in the models directory. */
    public static final String RAW_NAME = "fmnist-raw";
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
        Engine.getInstance().setRandomSeed((int) settings.seed());
        EpochSampler sampler = new EpochSampler(settings.batchSize(), settings.seed());
        FashionMnistDataset train = dataset(Split.TRAIN, settings.trainLimit(), sampler);
        // a batch larger than the data set asks the engine for memory it cannot give
        requireArgument(settings.batchSize() <= train.size(), "--batch-size", "at most the " + train.size()
                + " training images", settings.batchSize());
        FashionMnistDataset test = dataset(Split.TEST, settings.testLimit(), null);
        long stepsPerEpoch = (train.size() + settings.batchSize() - 1) / settings.batchSize();
        long totalSteps = stepsPerEpoch * settings.epochs();
        CheckpointableOptimizer optimizer = optimizer(totalSteps);
        CheckpointStore store = CheckpointStore.at(settings.out().resolve(CHECKPOINTS), settings.keepLast());
        try (Model model = Model.newInstance("fmnist", Device.cpu())) {
            model.setBlock(FashionCnn.block());
            DefaultTrainingConfig config = new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                    .optOptimizer(optimizer).addEvaluator(new Accuracy()).optDevices(new Device[] {Device.cpu()});
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(settings.batchSize(), 1, 28, 28));
                optimizer.bind(model.getBlock());
                EmaModel.Builder emaBuilder = settings.schedule() == null ? null
                        : EmaModel.builder(settings.schedule()).optimizerSteps(optimizer::steps);
                Position at = new Position();
                EmaModel ema;
                Checkpoint resumed = resumeFrom(store);
                if (resumed != null) {
                    TrainingCheckpoint.restoreModelAndOptimizer(resumed, model.getBlock(), optimizer);
                    ema = emaBuilder == null ? null
                            : TrainingCheckpoint.resumeEma(resumed, emaBuilder, model.getBlock());
                    at = restorePosition(resumed);
                    progress.line("resumed from " + resumed.directory() + " at step " + at.step);
                } else {
                    ema = emaBuilder == null ? null : emaBuilder.track(model.getBlock());
                }
                sampler.resumeAt(at.epoch - 1, (int) at.batchInEpoch);
                PostHocRecorder posthoc = posthocRecorder(model.getBlock(), resumed, at.step);
                long start = System.nanoTime();
                for (; at.epoch <= settings.epochs(); at.epoch++, at.batchInEpoch = 0) {
                    for (Batch batch : trainer.iterateDataset(train)) {
                        double loss;
                        try (batch) {
                            loss = trainStep(trainer, batch);
                            at.examples += batch.getSize();
                        }
                        if (ema != null) {
                            long t0 = System.nanoTime();
                            ema.step();
                            emaSeconds += (System.nanoTime() - t0) / 1e9;
                        }
                        at.step++;
                        if (posthoc != null) {
                            posthoc.step();
                            posthoc.recordIfDue(at.step, at.step == totalSteps);
                        }
                        at.batchInEpoch++;
                        trainLoss.add(new TrainLossPoint(at.step, loss));
                        at.lossSum += loss;
                        at.lossCount++;
                        progress.step(at.step, at.epoch, settings.epochs(), loss, at.examples);
                        if (at.step % settings.evalEvery() == 0 || at.batchInEpoch == stepsPerEpoch) {
                            evaluate(trainer, ema, test, at.step, at.epoch, at.lossSum / at.lossCount, start);
                            at.lossSum = 0;
                            at.lossCount = 0;
                        }
                        boolean last = at.step == totalSteps;
                        if (last || (settings.checkpointEvery() > 0 && at.step % settings.checkpointEvery() == 0)) {
                            Position next = at.copy();
                            if (next.batchInEpoch == stepsPerEpoch) {
                                next.epoch++;
                                next.batchInEpoch = 0;
                            }
                            store.save(at.step, TrainingCheckpoint.contents(model.getBlock(), ema,
                                    posthoc == null ? Map.of() : posthoc.checkpointed(), optimizer,
                                    next.toMap(rows, trainLoss, settings.trajectory())));
                        }
                    }
                }
                progress.finish();
                save(model, ema);
            }
        }
    }

    /** The post-hoc snapshot recorder: none, a fresh one, or one continuing the resumed checkpoint's EMAs. */
    private PostHocRecorder posthocRecorder(Block block, Checkpoint resumed, long step) throws IOException {
        Path directory = settings.out().resolve(PostHocRecorder.DIRECTORY);
        if (settings.posthocEvery() == 0) {
            if (resumed != null && !TrainingCheckpoint.additionalEmaSchedules(resumed).isEmpty()) {
                progress.line("note: " + resumed.directory() + " carries post-hoc EMAs; without --posthoc-every this"
                        + " run records no more snapshots and its checkpoints drop them");
            }
            return null;
        }
        return resumed == null
                ? PostHocRecorder.start(block, settings.posthocSigmaRels(), settings.posthocEvery(), directory)
                : PostHocRecorder.resume(block, settings.posthocSigmaRels(), settings.posthocEvery(), directory,
                        resumed, step);
    }

    /**
     * The checkpoint to resume from, or null for a fresh run. Refuses what would delete checkpoints a user has: a
     * fresh run into an {@code --out} that holds checkpoints, a resume from an older checkpoint than the newest there,
     * and a resume from elsewhere into an {@code --out} that holds checkpoints of its own.
     */
    private Checkpoint resumeFrom(CheckpointStore store) throws IOException {
        String resume = settings.resume();
        long newest = store.newestStep();
        if (resume == null) {
            requireArgument(newest < 0, "--out", "a directory without checkpoints for a fresh run (resume them with"
                    + " --resume latest, or choose another --out)", settings.out() + ", which holds checkpoints up to"
                    + " step " + newest);
            return null;
        }
        Checkpoint checkpoint = resume.equals("latest")
                ? store.latest().orElseThrow(() -> new IllegalArgumentException("--resume latest must find a"
                        + " complete checkpoint in " + store.root() + ", was none there"))
                : Checkpoint.open(java.nio.file.Path.of(resume));
        boolean ours = checkpoint.directory().toAbsolutePath().normalize().getParent()
                .equals(store.root().toAbsolutePath().normalize());
        requireArgument(ours || newest < 0, "--out", "a directory without checkpoints to resume " + resume
                + " into (or resume the run whose checkpoints it holds)", settings.out() + ", which holds"
                + " checkpoints up to step " + newest);
        List<String> damaged = ours ? store.damagedAfter(checkpoint.step()) : List.of();
        requireArgument(damaged.isEmpty(), "--out", "free of damaged checkpoints newer than the one to resume (move"
                + " them out of " + store.root() + " to resume from step " + checkpoint.step() + "; nothing is"
                + " deleted for you)", settings.out() + ", which holds " + String.join("; ", damaged));
        requireArgument(checkpoint.step() >= newest, "--resume", "the newest checkpoint of --out, step " + newest
                + " (an older one would prune the newer; copy it into another --out and resume there)",
                checkpoint.directory() + " at step " + checkpoint.step());
        requireSameTrajectory(checkpoint);
        JsonNode saved = TrainingCheckpoint.savedSchedule(checkpoint);
        Map<String, Object> given = settings.schedule() == null ? null : ScheduleCodec.toMap(settings.schedule());
        boolean same = saved == null ? given == null
                : given != null && ScheduleCodec.fromJson(saved).equals(settings.schedule());
        if (!same) {
            throw new IllegalArgumentException("the EMA schedule must be the checkpoint's to resume, was " + given
                    + " (the checkpoint has " + saved + ")");
        }
        return checkpoint;
    }

    /**
     * Fails unless the settings that decide the trajectory are the checkpoint's, listing every difference, unless
     * they may change on purpose ({@code --accept-changed-settings}).
     */
    private void requireSameTrajectory(Checkpoint checkpoint) throws IOException {
        JsonNode saved = TrainingCheckpoint.training(checkpoint).path("trajectory");
        if (saved.isMissingNode() || acceptChangedSettings) {
            return;
        }
        List<String> differences = new ArrayList<>();
        Map<String, Object> now = settings.trajectory();
        java.util.Set<String> options = new java.util.LinkedHashSet<>(now.keySet());
        saved.fieldNames().forEachRemaining(options::add);
        for (String option : options) {
            JsonNode then = saved.get(option);
            Object current = now.get(option);
            String thenText = then == null ? "(none)" : then.asText();
            String nowText = current == null ? "(none)" : String.valueOf(current);
            boolean same = then != null && current != null && (current instanceof Number n && then.isNumber()
                    ? n.doubleValue() == then.asDouble() : nowText.equals(thenText));
            if (!same) {
                differences.add(option + " " + thenText + " in the checkpoint, " + nowText + " now");
            }
        }
        requireArgument(differences.isEmpty(), "the settings of a resumed run", "the checkpoint's, for an exact"
                + " continuation (add --accept-changed-settings to change them on purpose)", differences.size()
                + " different: " + String.join("; ", differences));
    }

    private Position restorePosition(Checkpoint checkpoint) throws IOException {
        JsonNode t = TrainingCheckpoint.training(checkpoint);
        Position p = new Position();
        StrictFields strict = new StrictFields(checkpoint.directory(), "state.json");
        p.step = strict.whole(t.get("step"), "training.step", 0);
        p.epoch = (int) strict.whole(t.get("epoch"), "training.epoch", 1);
        p.batchInEpoch = strict.whole(t.get("batchInEpoch"), "training.batchInEpoch", 0);
        p.examples = strict.whole(t.get("examples"), "training.examples", 0);
        p.lossSum = strict.number(t.get("lossSum"), "training.lossSum");
        p.lossCount = (int) strict.whole(t.get("lossCount"), "training.lossCount", 0);
        JsonNode saved = strict.array(t.get("rows"), "training.rows", -1);
        for (int i = 0; i < saved.size(); i++) {
            String at = "training.rows[" + i + "]";
            JsonNode r = strict.array(saved.get(i), at, 9);
            rows.add(new EvaluationRow(strict.whole(r.get(0), at + "[0] (step)", 0),
                    (int) strict.whole(r.get(1), at + "[1] (epoch)", 1), strict.number(r.get(2), at + "[2]"),
                    strict.number(r.get(3), at + "[3]"), strict.number(r.get(4), at + "[4]"),
                    strict.number(r.get(5), at + "[5]"), strict.number(r.get(6), at + "[6]"),
                    strict.number(r.get(7), at + "[7]"), strict.number(r.get(8), at + "[8]")));
        }
        JsonNode losses = strict.array(t.get("trainLoss"), "training.trainLoss", -1);
        for (int i = 0; i < losses.size(); i++) {
            trainLoss.add(new TrainLossPoint(i + 1, strict.number(losses.get(i), "training.trainLoss[" + i + "]")));
        }
        return p;
    }

    /** Where training stands: the counters a checkpoint saves to resume exactly. */
    private static final class Position {
        long step;
        int epoch = 1;
        long batchInEpoch;
        long examples;
        double lossSum;
        int lossCount;

        Position copy() {
            Position p = new Position();
            p.step = step;
            p.epoch = epoch;
            p.batchInEpoch = batchInEpoch;
            p.examples = examples;
            p.lossSum = lossSum;
            p.lossCount = lossCount;
            return p;
        }

        Map<String, Object> toMap(List<EvaluationRow> rows, List<TrainLossPoint> trainLoss,
                Map<String, Object> trajectory) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("trajectory", trajectory);
            m.put("step", step);
            m.put("epoch", epoch);
            m.put("batchInEpoch", batchInEpoch);
            m.put("examples", examples);
            m.put("lossSum", lossSum);
            m.put("lossCount", lossCount);
            List<List<Object>> r = new ArrayList<>();
            for (EvaluationRow row : rows) {
                r.add(java.util.Arrays.asList(row.step(), row.epoch(), row.trainLoss(), row.rawTestLoss(),
                        row.rawTestAccuracy(), finite(row.emaTestLoss()), finite(row.emaTestAccuracy()),
                        finite(row.decay()), row.elapsedSeconds()));
            }
            m.put("rows", r);
            m.put("trainLoss", trainLoss.stream().map(TrainLossPoint::loss).toList());
            return m;
        }

        private static Double finite(double v) {
            return Double.isFinite(v) ? v : null;
        }
    }

    private static double trainStep(Trainer trainer, Batch batch) {
        try (GradientCollector collector = trainer.newGradientCollector()) {
            NDList predictions = trainer.forward(batch.getData(), batch.getLabels());
            NDArray loss = trainer.getLoss().evaluate(batch.getLabels(), predictions);
            collector.backward(loss);
            double value = loss.getFloat();
            trainer.step();
            return value;
        }
    }

    private void evaluate(Trainer trainer, EmaModel ema, FashionMnistDataset test, long step, int epoch,
            double meanTrainLoss, long start) throws IOException, TranslateException {
        Evaluation raw = Evaluation.of(trainer, test);
        Evaluation averaged = null;
        if (ema != null) {
            EmaModel.Swap emaWeights = ema.swapIn();
            try (emaWeights) {
                averaged = Evaluation.of(trainer, test);
            }
        }
        double decay = ema == null ? Double.NaN : ema.status().lastDecay();
        EvaluationRow row = new EvaluationRow(step, epoch, meanTrainLoss, raw.loss(), raw.metric("Accuracy"),
                averaged == null ? Double.NaN : averaged.loss(),
                averaged == null ? Double.NaN : averaged.metric("Accuracy"), decay,
                (System.nanoTime() - start) / 1e9);
        rows.add(row);
        progress.line(String.format("step %6d  epoch %d  train loss %.4f  test raw %.4f / %.2f%%  EMA %s", step,
                epoch, meanTrainLoss, raw.loss(), 100 * raw.metric("Accuracy"), averaged == null ? "-"
                        : String.format("%.4f / %.2f%%  (decay %.5f)", averaged.loss(),
                                100 * averaged.metric("Accuracy"), decay)));
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
            model.save(staging, RAW_NAME);
            if (ema != null) {
                try (Model averaged = ema.averagedModel(EMA_NAME, FashionCnn::block)) {
                    averaged.save(staging, EMA_NAME);
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
        Tracker tracker = settings.learningRateSchedule().equals("cosine")
                ? Tracker.cosine().setBaseValue(lr).optFinalValue(lr / 100).setMaxUpdates((int) totalSteps).build()
                : Tracker.fixed(lr);
        return settings.optimizer().equals("adam")
                ? CheckpointableAdam.builder().optLearningRateTracker(tracker).build()
                : CheckpointableSgd.builder().setLearningRateTracker(tracker).optMomentum((float) settings.momentum())
                        .build();
    }

    private FashionMnistDataset dataset(Split split, int limit, EpochSampler sampler) throws IOException {
        FashionMnistDataset.Builder b = FashionMnistDataset.builder().files(settings.files()).split(split);
        if (sampler != null) {
            b.setSampling(sampler);
        } else {
            b.setSampling(EVAL_BATCH, false);
        }
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
