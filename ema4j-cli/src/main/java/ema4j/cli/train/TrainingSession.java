package ema4j.cli.train;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.GradientCollector;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.evaluator.Accuracy;
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import ema4j.cli.data.FashionMnistDataset;
import ema4j.cli.data.Split;
import ema4j.cli.model.FashionCnn;
import ema4j.cli.report.EvaluationRow;
import ema4j.cli.report.TrainLossPoint;
import ema4j.djl.EmaModel;
import ema4j.djl.Evaluation;
import ema4j.djl.StepCountingOptimizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * One training run of the small CNN on Fashion-MNIST with an EMA beside it: the seed's loop (section 2.2), with the
 * test set evaluated on raw and EMA weights every {@code evalEvery} steps and at the end of every epoch.
 */
public final class TrainingSession {
    /** File name stem of the raw weights in the checkpoint directory. */
    public static final String RAW_NAME = "fmnist-raw";
    /** File name stem of the EMA weights in the checkpoint directory. */
    public static final String EMA_NAME = "fmnist-ema";
    private static final int EVAL_BATCH = 500;

    private final TrainingSettings settings;
    private final ProgressReporter progress;
    private final List<EvaluationRow> rows = new ArrayList<>();
    private final List<TrainLossPoint> trainLoss = new ArrayList<>();
    private double emaSeconds;

    /**
     * @param settings the run's settings
     * @param progress where progress goes
     */
    public TrainingSession(TrainingSettings settings, ProgressReporter progress) {
        this.settings = settings;
        this.progress = progress;
    }

    /** Optimizer steps of a run with these settings. */
    public static long totalSteps(TrainingSettings s, long trainSize) {
        return s.epochs() * ((trainSize + s.batchSize() - 1) / s.batchSize());
    }

    /** Loads the data, trains, evaluates and saves both models under {@code out/checkpoint}. */
    public void run() throws IOException, TranslateException {
        Engine.getInstance().setRandomSeed((int) settings.seed());
        FashionMnistDataset train = dataset(Split.TRAIN, settings.trainLimit(), settings.batchSize(), true);
        FashionMnistDataset test = dataset(Split.TEST, settings.testLimit(), EVAL_BATCH, false);
        long stepsPerEpoch = (train.size() + settings.batchSize() - 1) / settings.batchSize();
        long totalSteps = stepsPerEpoch * settings.epochs();
        StepCountingOptimizer optimizer = StepCountingOptimizer.wrap(optimizer(totalSteps));
        try (Model model = Model.newInstance("fmnist", Device.cpu())) {
            model.setBlock(FashionCnn.block());
            DefaultTrainingConfig config = new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                    .optOptimizer(optimizer).addEvaluator(new Accuracy()).optDevices(new Device[] {Device.cpu()});
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(settings.batchSize(), 1, 28, 28));
                EmaModel ema = settings.schedule() == null ? null
                        : EmaModel.builder(settings.schedule()).optimizerSteps(optimizer::steps)
                                .track(model.getBlock());
                long start = System.nanoTime();
                long step = 0;
                long examples = 0;
                double lossSum = 0;
                int lossCount = 0;
                for (int epoch = 1; epoch <= settings.epochs(); epoch++) {
                    for (Batch batch : trainer.iterateDataset(train)) {
                        double loss;
                        try (batch) {
                            loss = trainStep(trainer, batch);
                            examples += batch.getSize();
                        }
                        if (ema != null) {
                            long t0 = System.nanoTime();
                            ema.step();
                            emaSeconds += (System.nanoTime() - t0) / 1e9;
                        }
                        step++;
                        trainLoss.add(new TrainLossPoint(step, loss));
                        lossSum += loss;
                        lossCount++;
                        progress.step(step, epoch, settings.epochs(), loss, examples);
                        boolean epochEnd = step % stepsPerEpoch == 0;
                        if (step % settings.evalEvery() == 0 || epochEnd) {
                            evaluate(trainer, ema, test, step, epoch, lossSum / lossCount, start);
                            lossSum = 0;
                            lossCount = 0;
                        }
                    }
                }
                progress.finish();
                save(model, ema);
            }
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
            try (EmaModel.Swap swap = ema.swapInto(trainer.getModel().getBlock())) {
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

    private void save(Model model, EmaModel ema) throws IOException {
        Path dir = settings.out().resolve("checkpoint");
        Files.createDirectories(dir);
        model.save(dir, RAW_NAME);
        if (ema != null) {
            try (Model averaged = ema.averagedModel(EMA_NAME, FashionCnn::block)) {
                averaged.save(dir, EMA_NAME);
            }
        }
    }

    private Optimizer optimizer(long totalSteps) {
        float lr = (float) settings.learningRate();
        Tracker tracker = settings.learningRateSchedule().equals("cosine")
                ? Tracker.cosine().setBaseValue(lr).optFinalValue(lr / 100).setMaxUpdates((int) totalSteps).build()
                : Tracker.fixed(lr);
        return settings.optimizer().equals("adam")
                ? Optimizer.adam().optLearningRateTracker(tracker).build()
                : Optimizer.sgd().setLearningRateTracker(tracker).optMomentum((float) settings.momentum()).build();
    }

    private FashionMnistDataset dataset(Split split, int limit, int batch, boolean shuffle) throws IOException {
        FashionMnistDataset.Builder b = FashionMnistDataset.builder().files(settings.files()).split(split)
                .setSampling(batch, shuffle);
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
