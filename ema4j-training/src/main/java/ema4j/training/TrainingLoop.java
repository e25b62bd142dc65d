package ema4j.training;

import static ema4j.core.internal.Preconditions.requireArgument;
import static ema4j.core.internal.Preconditions.requireState;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.dataset.RandomAccessDataset;
import ai.djl.training.evaluator.Evaluator;
import ai.djl.training.loss.Loss;
import ai.djl.translate.TranslateException;
import ema4j.djl.EmaModel;
import ema4j.djl.Evaluation;
import ema4j.io.DirectoryLock;
import ema4j.io.checkpoint.Checkpoint;
import ema4j.io.checkpoint.CheckpointStore;
import ema4j.training.optim.CheckpointableOptimizer;
import ema4j.training.posthoc.PostHocRecorder;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Trains a DJL model with an EMA beside it, the way diffusion_policy's training loop does: forward, backward, optimizer
 * step, then the EMA update, so the EMA averages the weights every step left; the validation set is evaluated on the
 * raw and the EMA weights every {@code evaluateEvery} steps and at the end of every epoch; checkpoints hold
 * everything needed to resume exactly.
 *
 * <p>A run killed at any moment and resumed from its newest checkpoint ends bit-identical to one that never stopped:
 * the data order is a function of (seed, epoch) ({@link EpochSampler}), the engine's random generator is seeded from
 * (seed, step) before every step (dropout draws the same masks), and a checkpoint holds the model, every EMA, the
 * optimizer's slots and counts, the position in the data, the evaluations so far and the training losses
 * ({@link TrainingCheckpoint}). Post-hoc EMA snapshots ({@link PostHocRecorder}) are recorded and resumed with them.
 *
 * <p>Nothing a user saved is deleted for them: a fresh run into a checkpoint directory that holds checkpoints, a
 * resume from an older checkpoint than the newest one there, or into a directory with damaged newer checkpoints is
 * refused; the checkpoint directory is locked while the loop runs.
 *
 * <pre>{@code
 * try (TrainingLoop loop = TrainingLoop.builder(model)
 *         .loss(Loss.softmaxCrossEntropyLoss()).evaluators(new Accuracy())
 *         .optimizer(CheckpointableAdam.builder().build())
 *         .trainingData(train, 128, 3).inputShape(new Shape(1, 1, 28, 28)).seed(42)
 *         .ema(EmaModel.builder(Preset.SHORT.schedule()))
 *         .validationData(test).evaluateEvery(200)
 *         .checkpoints(Path.of("run/checkpoints")).checkpointEvery(500).keepLast(3)
 *         .resume(Resume.latestIfAny())
 *         .build()) {
 *     loop.run();
 *     Model averaged = loop.ema().averagedModel("ema", MyNet::block);
 * }
 * }</pre>
 *
 * <p>Not thread-safe: build, run and read it from one thread.
 */
public final class TrainingLoop implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(TrainingLoop.class);
    private static final String CHECKPOINT_PREFIX = "posthoc-ema";

    private final Builder settings;
    private final List<EvaluationRecord> evaluations = new ArrayList<>();
    private final List<Double> trainLoss = new ArrayList<>();
    private Trainer trainer;
    private EmaModel ema;
    private PostHocRecorder posthoc;
    private double emaSeconds;
    private long step;
    private String runId;
    private boolean ran;
    private boolean closed;

    private TrainingLoop(Builder settings) {
        this.settings = settings;
    }

    /** A loop that trains {@code model}, whose block is set and not yet initialized. */
    public static Builder builder(Model model) {
        requireArgument(model != null && model.getBlock() != null, "model", "a model with its block set",
                model == null ? null : "a model without a block");
        return new Builder(model);
    }

    /** Optimizer steps of one epoch over {@code examples} examples in batches of {@code batchSize}, the last short. */
    public static long stepsPerEpoch(long examples, int batchSize) {
        requireArgument(examples >= 1, "examples", ">= 1", examples);
        requireArgument(batchSize >= 1, "batchSize", ">= 1", batchSize);
        return (examples + batchSize - 1) / batchSize;
    }

    /**
     * Trains to the end of the last epoch, from the start or from the checkpoint {@link Builder#resume} names;
     * may be called once.
     *
     * @throws IllegalArgumentException when a resume is refused (which checkpoint, and why, in the message)
     * @throws ema4j.io.DirectoryLock.InUseException when another training holds the checkpoint directory
     * @throws IOException when data or checkpoints cannot be read or written
     */
    public void run() throws IOException, TranslateException {
        requireState(!closed, "this training loop is closed");
        requireState(!ran, "run() trains once per loop; build another loop to train again");
        ran = true;
        Path directory = settings.checkpoints;
        try (DirectoryLock lock = directory == null ? null : DirectoryLock.acquire(directory, "a training")) {
            train();
        }
    }

    private void train() throws IOException, TranslateException {
        Builder s = settings;
        RandomAccessDataset data = s.trainingData;
        data.prepare();
        requireArgument(s.batchSize <= data.size(), "batchSize", "at most the " + data.size() + " training examples",
                s.batchSize);
        if (s.validationData != null) {
            s.validationData.prepare();
        }
        long stepsPerEpoch = stepsPerEpoch(data.size(), s.batchSize);
        long totalSteps = stepsPerEpoch * s.epochs;
        CheckpointStore store = s.checkpoints == null ? null : CheckpointStore.at(s.checkpoints, s.keepLast);
        Checkpoint resumed = resumeFrom(store);

        Engine.getInstance().setRandomSeed((int) s.seed);
        DefaultTrainingConfig config = new DefaultTrainingConfig(s.loss).optOptimizer(s.optimizer)
                .optDevices(new ai.djl.Device[] {s.model.getNDManager().getDevice()});
        s.evaluators.forEach(config::addEvaluator);
        trainer = s.model.newTrainer(config);
        trainer.initialize(s.inputShapes);
        s.optimizer.bind(s.model.getBlock());
        EmaModel.Builder emaBuilder = s.ema == null ? null : s.ema.optimizerSteps(s.optimizer::steps);
        Position at = new Position();
        if (resumed != null) {
            TrainingCheckpoint.restoreModelAndOptimizer(resumed, s.model.getBlock(), s.optimizer);
            ema = emaBuilder == null ? null : TrainingCheckpoint.resumeEma(resumed, emaBuilder, s.model.getBlock());
            at = restore(resumed);
            s.listener.onResume(resumed);
        } else {
            ema = emaBuilder == null ? null : emaBuilder.track(s.model.getBlock());
        }
        posthoc = posthocRecorder(resumed, at.step);
        step = at.step;
        EpochSampler sampler = new EpochSampler(s.batchSize, s.seed);
        sampler.resumeAt(at.epoch - 1, Math.toIntExact(at.batchInEpoch));
        long start = System.nanoTime();
        for (; at.epoch <= s.epochs; at.epoch++, at.batchInEpoch = 0) {
            for (Batch batch : data.getData(trainer.getManager(), sampler)) {
                int seed = stepSeed(s.seed, at.step + 1);
                Engine.getInstance().setRandomSeed(seed);
                double loss;
                try (batch) {
                    loss = trainStep(s.preparation.prepare(batch, seed));
                    at.examples += batch.getSize();
                }
                if (ema != null) {
                    long t0 = System.nanoTime();
                    ema.step();
                    emaSeconds += (System.nanoTime() - t0) / 1e9;
                }
                at.step++;
                step = at.step;
                at.batchInEpoch++;
                boolean last = at.step == totalSteps;
                if (posthoc != null) {
                    posthoc.step();
                    posthoc.recordIfDue(at.step, last);
                }
                trainLoss.add(loss);
                at.lossSum += loss;
                at.lossCount++;
                s.listener.onStep(new TrainingProgress(at.step, totalSteps, at.epoch, s.epochs, loss, at.examples));
                boolean endOfEpoch = at.batchInEpoch == stepsPerEpoch;
                if (s.validationData != null && ((s.evaluateEvery > 0 && at.step % s.evaluateEvery == 0)
                        || endOfEpoch)) {
                    evaluate(at, start);
                }
                if (store != null && (last || (s.checkpointEvery > 0 && at.step % s.checkpointEvery == 0))) {
                    Position next = at.copy();
                    if (endOfEpoch) {
                        next.epoch++;
                        next.batchInEpoch = 0;
                    }
                    s.listener.onCheckpoint(store.save(at.step, runId, TrainingCheckpoint.contents(s.model.getBlock(), ema,
                            posthoc == null ? Map.of() : posthoc.checkpointed(), s.optimizer,
                            saved(next).toJson())));
                }
            }
        }
    }

    /**
     * The engine's seed for step {@code step}: a mix of the run's seed and the step, so a resumed run draws what the
     * uninterrupted one drew without saving the engine's generator.
     */
    private static int stepSeed(long seed, long step) {
        long z = seed * 0x9E3779B97F4A7C15L + step;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return (int) (z ^ (z >>> 31));
    }

    private double trainStep(Prepared batch) {
        try (GradientCollector collector = trainer.newGradientCollector()) {
            NDList predictions = trainer.forward(batch.inputs(), batch.labels());
            NDArray loss = trainer.getLoss().evaluate(batch.labels(), predictions);
            collector.backward(loss);
            double value = loss.getFloat();
            trainer.step();
            return value;
        }
    }

    private void evaluate(Position at, long start) throws IOException, TranslateException {
        Evaluation raw = Evaluation.of(trainer, settings.validationData);
        Evaluation averaged = null;
        if (ema != null) {
            try (EmaModel.Swap swap = ema.swapIn()) {
                averaged = Evaluation.of(trainer, settings.validationData);
            }
        }
        double decay = ema == null || ema.status().updates() == 0 ? Double.NaN : ema.status().lastDecay();
        EvaluationRecord record = new EvaluationRecord(at.step, at.epoch, at.lossSum / at.lossCount, raw, averaged,
                decay, (System.nanoTime() - start) / 1e9);
        evaluations.add(record);
        at.lossSum = 0;
        at.lossCount = 0;
        settings.listener.onEvaluation(record);
    }

    /** The post-hoc recorder: none, a fresh one, or one continuing the resumed checkpoint's EMAs. */
    private PostHocRecorder posthocRecorder(Checkpoint resumed, long at) throws IOException {
        Builder s = settings;
        if (s.posthocEvery == 0) {
            if (resumed != null && TrainingCheckpoint.additionalEmaSchedules(resumed).keySet().stream()
                    .anyMatch(name -> name.startsWith(CHECKPOINT_PREFIX))) {
                LOG.warn("{} carries post-hoc EMAs; without post-hoc recording this run records no more snapshots"
                        + " and its checkpoints drop them", resumed.directory());
            }
            return null;
        }
        return resumed == null
                ? PostHocRecorder.start(s.model.getBlock(), s.posthocSigmaRels, s.posthocEvery, s.posthocDirectory)
                : PostHocRecorder.resume(s.model.getBlock(), s.posthocSigmaRels, s.posthocEvery, s.posthocDirectory,
                        resumed, at);
    }

    /**
     * The checkpoint to resume from, or null for a fresh run; refuses what would delete checkpoints a user has or
     * continue another run than the one configured.
     */
    private Checkpoint resumeFrom(CheckpointStore store) throws IOException {
        Resume resume = settings.resume;
        long newest = store == null ? -1 : store.newestStep();
        Checkpoint checkpoint;
        if (resume instanceof Resume.From from) {
            checkpoint = Checkpoint.open(from.directory());
        } else if (resume instanceof Resume.Latest latest) {
            requireArgument(store != null, "resume", "used with a checkpoint directory (Builder.checkpoints)", resume);
            checkpoint = store.latest().orElse(null);
            requireArgument(checkpoint != null || latest == Resume.Latest.IF_ANY, "resume latest",
                    "used where a complete checkpoint is", "none in " + store.root());
            if (checkpoint == null) {
                requireArgument(newest < 0, "the checkpoint directory", "free of damaged checkpoints to start afresh"
                        + " (move them out; nothing is deleted for you)", store.root() + ", whose "
                        + String.join("; ", store.damagedAfter(-1)) + " do not open");
                runId = newRunId();
                return null;
            }
            List<String> runs = store.runIds();
            requireArgument(runs.size() == 1, "the checkpoint directory", "the checkpoints of one run to resume the"
                    + " latest (resume one with Resume.from(directory) into a directory of its own)", store.root()
                    + ", which holds checkpoints of " + runs.size() + " runs: " + runs);
        } else {
            requireArgument(newest < 0, "the checkpoint directory", "one without checkpoints for a fresh run (resume"
                    + " them, or choose another directory)", store == null ? null : store.root() + ", which holds"
                    + " checkpoints up to step " + newest);
            runId = newRunId();
            return null;
        }
        boolean ours = store != null && checkpoint.directory().toAbsolutePath().normalize().getParent()
                .equals(store.root().toAbsolutePath().normalize());
        requireArgument(ours || newest < 0, "the checkpoint directory", "one without checkpoints to resume "
                + checkpoint.directory() + " into (or resume the run whose checkpoints it holds)", store == null ? null
                : store.root() + ", which holds checkpoints up to step " + newest);
        List<String> damaged = ours ? store.damagedAfter(checkpoint.step()) : List.of();
        requireArgument(damaged.isEmpty(), "the checkpoint directory", "free of damaged checkpoints newer than the one"
                + " to resume (move them out to resume from step " + checkpoint.step() + "; nothing is deleted for"
                + " you)", ours ? store.root() + ", which holds " + String.join("; ", damaged) : null);
        requireArgument(checkpoint.step() >= newest, "the checkpoint to resume", "the newest of the checkpoint"
                + " directory, step " + newest + " (to fork the run from an older one, resume it into another,"
                + " empty checkpoint directory; nothing is deleted for you)", checkpoint.directory() + " at step "
                + checkpoint.step());
        boolean hasEma = TrainingCheckpoint.savedSchedule(checkpoint) != null;
        requireArgument(hasEma == (settings.ema != null), "the EMA", (hasEma ? "configured" : "absent")
                + " to resume " + checkpoint.directory() + ", which " + (hasEma ? "has" : "has none"),
                settings.ema == null ? "absent" : "configured");
        requireSameTrajectory(checkpoint);
        // a run resumed in its own directory continues its lineage; one resumed elsewhere is a fork, a new run
        runId = ours ? checkpoint.manifest().runId() : newRunId();
        return checkpoint;
    }

    private static String newRunId() {
        return java.util.UUID.randomUUID().toString();
    }

    /** The id of this run's checkpoints (kept by a resume in the same directory); null before {@link #run}. */
    public String runId() {
        return runId;
    }

    /** Fails unless the settings that decide the trajectory are the checkpoint's, listing every difference. */
    private void requireSameTrajectory(Checkpoint checkpoint) throws IOException {
        Map<String, Object> saved = TrainingState.read(checkpoint).trajectory();
        if (settings.acceptChangedSettings) {
            return;
        }
        Map<String, Object> now = trajectory();
        Set<String> names = new LinkedHashSet<>(now.keySet());
        names.addAll(saved.keySet());
        List<String> differences = new ArrayList<>();
        for (String name : names) {
            Object then = saved.get(name);
            Object current = now.get(name);
            String thenText = then == null ? "(none)" : String.valueOf(then);
            String nowText = current == null ? "(none)" : String.valueOf(current);
            boolean same = then != null && current != null && (current instanceof Number n && then instanceof Number t
                    ? n.doubleValue() == t.doubleValue() : nowText.equals(thenText));
            if (!same) {
                differences.add(name + " " + thenText + " in the checkpoint, " + nowText + " now");
            }
        }
        if (!differences.isEmpty()) {
            throw new ChangedSettingsException(checkpoint.directory(), differences);
        }
    }

    /** The settings that decide where training goes: the loop's own and the caller's. */
    private Map<String, Object> trajectory() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("batch size", settings.batchSize);
        m.put("seed", settings.seed);
        m.put("training examples", settings.trainingData.size());
        m.put("optimizer", settings.optimizer.getClass().getSimpleName());
        m.putAll(settings.trajectory);
        return m;
    }

    /** The loop's part of a checkpoint's {@code state.json}. */
    private TrainingState saved(Position next) {
        return new TrainingState(trajectory(), new TrainingState.Position(next.step, next.epoch, next.batchInEpoch,
                next.examples, next.lossSum, next.lossCount), evaluations, trainLoss);
    }

    /** Takes the position, evaluations and losses back from a checkpoint, which must fit this loop's data. */
    private Position restore(Checkpoint checkpoint) throws IOException {
        TrainingState state = TrainingState.read(checkpoint);
        TrainingState.Position p = state.position();
        Position at = new Position();
        at.step = p.step();
        at.epoch = p.epoch();
        at.batchInEpoch = p.batchInEpoch();
        at.examples = p.examples();
        at.lossSum = p.lossSum();
        at.lossCount = p.lossCount();
        long stepsPerEpoch = stepsPerEpoch(settings.trainingData.size(), settings.batchSize);
        requireArgument((at.epoch - 1) * stepsPerEpoch + at.batchInEpoch == at.step, "training.position of "
                + checkpoint.directory(), "epoch and batch that reach its step " + at.step + " with "
                + stepsPerEpoch + " batches per epoch", "epoch " + at.epoch + ", batch " + at.batchInEpoch);
        requireArgument(at.epoch - 1 <= settings.epochs, "epochs", "at least the " + (at.epoch - 1) + " that "
                + checkpoint.directory() + " has finished", settings.epochs);
        evaluations.addAll(state.evaluations());
        trainLoss.addAll(state.trainLoss());
        return at;
    }

    /** The run's EMA, or null without one; open until {@link #close()}. Available once {@link #run} has started. */
    public EmaModel ema() {
        requireState(!closed, "this training loop is closed");
        return ema;
    }

    /** The trainer, for evaluating or predicting after {@link #run}; null before. */
    public Trainer trainer() {
        return trainer;
    }

    /** Every evaluation so far, those of the run resumed from included, in order. */
    public List<EvaluationRecord> evaluations() {
        return List.copyOf(evaluations);
    }

    /** The training loss of every step so far, step 1 first, those of the run resumed from included. */
    public List<Double> trainLoss() {
        return List.copyOf(trainLoss);
    }

    /** Optimizer steps taken so far, those before a resume included. */
    public long step() {
        return step;
    }

    /** Seconds this run spent in EMA updates (not counting the run resumed from, nor post-hoc EMAs). */
    public double emaSeconds() {
        return emaSeconds;
    }

    /** Closes the EMAs and the trainer; the model stays open (it is the caller's). Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (posthoc != null) {
            posthoc.checkpointed().values().forEach(EmaModel::close);
        }
        if (ema != null) {
            ema.close();
        }
        if (trainer != null) {
            trainer.close();
        }
    }

    @Override
    public String toString() {
        Builder s = settings;
        return "TrainingLoop{epochs=" + s.epochs + ", batchSize=" + s.batchSize + ", seed=" + s.seed + ", optimizer="
                + s.optimizer + ", ema=" + (s.ema != null) + ", evaluateEvery=" + s.evaluateEvery + ", checkpoints="
                + s.checkpoints + ", checkpointEvery=" + s.checkpointEvery + ", keepLast=" + s.keepLast + ", resume="
                + s.resume + ", posthoc=" + (s.posthocEvery == 0 ? "none" : s.posthocSigmaRels + " every "
                + s.posthocEvery) + "}";
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
    }

    /**
     * Turns a batch of the training data into what the network and the loss take, e.g. noised images and their noise
     * for a diffusion model; by default the batch's data and labels as they are.
     */
    @FunctionalInterface
    public interface BatchPreparation {
        /**
         * The network's inputs and the loss's labels for one step.
         *
         * @param batch the batch of training data, closed by the loop after the step
         * @param seed a seed derived from the run's seed and the step: draw random numbers from it (or from the
         *     engine, which the loop seeds with it), so that a resumed run draws what the uninterrupted one drew
         */
        Prepared prepare(Batch batch, long seed);
    }

    /**
     * One step's inputs and labels.
     *
     * @param inputs what the network takes
     * @param labels what the loss compares the network's output with
     */
    public record Prepared(NDList inputs, NDList labels) {}

    /** What a {@link TrainingLoop} reports as it goes; every method does nothing by default. */
    public interface Listener {
        /** Called once, before the first step, when the loop resumes from {@code checkpoint}. */
        default void onResume(Checkpoint checkpoint) {}

        /** Called after every optimizer step and its EMA update. */
        default void onStep(TrainingProgress progress) {}

        /** Called after every evaluation. */
        default void onEvaluation(EvaluationRecord record) {}

        /** Called after every checkpoint is saved (and older ones pruned). */
        default void onCheckpoint(Checkpoint checkpoint) {}
    }

    /** The options of a {@link TrainingLoop}; each validated where it is set. */
    public static final class Builder {
        private final Model model;
        private Loss loss;
        private final List<Evaluator> evaluators = new ArrayList<>();
        private CheckpointableOptimizer optimizer;
        private RandomAccessDataset trainingData;
        private int batchSize;
        private int epochs;
        private Shape[] inputShapes;
        private long seed;
        private EmaModel.Builder ema;
        private Dataset validationData;
        private int evaluateEvery;
        private Path checkpoints;
        private int checkpointEvery;
        private int keepLast = 3;
        private Resume resume = Resume.none();
        private List<Double> posthocSigmaRels = List.of();
        private int posthocEvery;
        private Path posthocDirectory;
        private Map<String, Object> trajectory = Map.of();
        private boolean acceptChangedSettings;
        private Listener listener = new Listener() {};
        private BatchPreparation preparation = (batch, seed) -> new Prepared(batch.getData(), batch.getLabels());

        private Builder(Model model) {
            this.model = model;
        }

        /** The training loss, e.g. {@code Loss.softmaxCrossEntropyLoss()}; required. */
        public Builder loss(Loss loss) {
            requireArgument(loss != null, "loss", "non-null", null);
            this.loss = loss;
            return this;
        }

        /** Metrics evaluated beside the loss on the validation data, e.g. {@code new Accuracy()}. */
        public Builder evaluators(Evaluator... evaluators) {
            requireArgument(evaluators != null, "evaluators", "non-null", null);
            this.evaluators.clear();
            this.evaluators.addAll(List.of(evaluators));
            return this;
        }

        /**
         * The optimizer; required. Only a {@link CheckpointableOptimizer} ({@code CheckpointableSgd},
         * {@code CheckpointableAdam}) can be saved and restored by parameter name, which an exact resume needs.
         */
        public Builder optimizer(CheckpointableOptimizer optimizer) {
            requireArgument(optimizer != null, "optimizer", "non-null", null);
            this.optimizer = optimizer;
            return this;
        }

        /**
         * The training data, read in batches of {@code batchSize} in an order decided by (seed, epoch) whatever
         * sampler the dataset was built with; required.
         *
         * @param data the examples, prepared by the loop if needed
         * @param batchSize examples per optimizer step, {@code >= 1}; the last batch of an epoch may be smaller
         * @param epochs passes over the data, {@code >= 1}
         */
        public Builder trainingData(RandomAccessDataset data, int batchSize, int epochs) {
            requireArgument(data != null, "trainingData", "non-null", null);
            requireArgument(batchSize >= 1, "batchSize", ">= 1", batchSize);
            requireArgument(epochs >= 1, "epochs", ">= 1", epochs);
            this.trainingData = data;
            this.batchSize = batchSize;
            this.epochs = epochs;
            return this;
        }

        /** The shapes of the model's inputs, batch dimension included, to initialize the block; required. */
        public Builder inputShape(Shape... shapes) {
            requireArgument(shapes != null && shapes.length > 0, "inputShape", "at least one shape", null);
            this.inputShapes = shapes.clone();
            return this;
        }

        /** The random seed of initialization, data order and the engine's draws; 0 by default. */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /**
         * An EMA of the model, updated after every optimizer step; none by default. The loop sets the builder's
         * {@link EmaModel.Builder#optimizerSteps} to the optimizer's step count.
         */
        public Builder ema(EmaModel.Builder ema) {
            this.ema = ema;
            return this;
        }

        /** Data to evaluate the raw and the EMA weights on, at the end of every epoch; none by default. */
        public Builder validationData(Dataset data) {
            this.validationData = data;
            return this;
        }

        /** Also evaluates every {@code steps} steps; 0 (the default) for only at the end of every epoch. */
        public Builder evaluateEvery(int steps) {
            requireArgument(steps >= 0, "evaluateEvery", ">= 0", steps);
            this.evaluateEvery = steps;
            return this;
        }

        /**
         * Saves checkpoints into {@code directory} (created if missing, locked while training), at the last step
         * and every {@link #checkpointEvery} steps; none by default.
         */
        public Builder checkpoints(Path directory) {
            requireArgument(directory != null && !directory.toString().isBlank(), "checkpoints",
                    "a directory's path", directory == null ? null : "\"" + directory + "\"");
            this.checkpoints = directory;
            return this;
        }

        /** Also checkpoints every {@code steps} steps; 0 (the default) for only at the last step. */
        public Builder checkpointEvery(int steps) {
            requireArgument(steps >= 0, "checkpointEvery", ">= 0", steps);
            this.checkpointEvery = steps;
            return this;
        }

        /** The complete checkpoints kept, {@code >= 1}; 3 by default. Older ones of this run are deleted. */
        public Builder keepLast(int checkpoints) {
            requireArgument(checkpoints >= 1, "keepLast", ">= 1", checkpoints);
            this.keepLast = checkpoints;
            return this;
        }

        /** Where to start: {@link Resume#none()} by default. */
        public Builder resume(Resume resume) {
            requireArgument(resume != null, "resume", "non-null", null);
            this.resume = resume;
            return this;
        }

        /**
         * Records post-hoc EMA snapshots (Karras et al., 2024, EDM2, Section 3.2): one power-function EMA per
         * sigma_rel beside the main EMA, and every {@code every} steps and at the last one, the complete EMA model of
         * each into {@code directory}; see {@link PostHocRecorder}. Checkpoints carry those EMAs, so a resumed run
         * continues them.
         *
         * @param sigmaRels the EMA lengths, each in {@code (0, 0.3]}, distinct, at least one
         * @param every record every this many steps, {@code >= 1}
         * @param directory the snapshot directory; it must hold no snapshots of another run
         */
        public Builder postHoc(List<Double> sigmaRels, int every, Path directory) {
            requireArgument(sigmaRels != null && !sigmaRels.isEmpty(), "sigmaRels", "at least one value", sigmaRels);
            requireArgument(new java.util.HashSet<>(sigmaRels).size() == sigmaRels.size(), "sigmaRels",
                    "distinct values", sigmaRels);
            requireArgument(every >= 1, "every", ">= 1", every);
            requireArgument(directory != null, "directory", "non-null", null);
            this.posthocSigmaRels = List.copyOf(sigmaRels);
            this.posthocEvery = every;
            this.posthocDirectory = directory;
            return this;
        }

        /**
         * More settings that decide where training goes (e.g. the learning rate), by name, saved in every checkpoint
         * and compared on resume beside the loop's own (batch size, seed, training examples, optimizer type): a
         * resume with other values is refused, naming each difference.
         */
        public Builder trajectory(Map<String, ?> settings) {
            requireArgument(settings != null, "trajectory", "non-null", null);
            this.trajectory = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(settings));
            return this;
        }

        /** Lets a resume change the trajectory's settings on purpose; false by default. */
        public Builder acceptChangedSettings(boolean accept) {
            this.acceptChangedSettings = accept;
            return this;
        }

        /**
         * How a batch becomes the network's inputs and the loss's labels (e.g. noising images for a diffusion
         * model); the batch's data and labels as they are by default. Validation data is evaluated as it is.
         */
        public Builder batchPreparation(BatchPreparation preparation) {
            requireArgument(preparation != null, "batchPreparation", "non-null", null);
            this.preparation = preparation;
            return this;
        }

        /** Where progress, evaluations and checkpoints are reported; nothing by default. */
        public Builder listener(Listener listener) {
            requireArgument(listener != null, "listener", "non-null", null);
            this.listener = listener;
            return this;
        }

        /**
         * The loop, checking that the required options are set.
         *
         * @throws IllegalArgumentException when loss, optimizer, training data or input shape is missing, or an
         *     option needs another (resume latest needs checkpoints)
         */
        public TrainingLoop build() {
            requireArgument(loss != null, "loss", "set", "missing");
            requireArgument(optimizer != null, "optimizer", "set", "missing");
            requireArgument(trainingData != null, "trainingData", "set", "missing");
            requireArgument(inputShapes != null, "inputShape", "set", "missing");
            requireArgument(!(resume instanceof Resume.Latest) || checkpoints != null, "checkpoints",
                    "set to resume " + resume, "missing");
            return new TrainingLoop(this);
        }
    }
}
