package ema4j.bench;

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
import ai.djl.training.loss.Loss;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.Tracker;
import ema4j.demo.data.FashionMnistDataset;
import ema4j.demo.data.FashionMnistFiles;
import ema4j.demo.data.Split;
import ema4j.demo.model.FashionCnn;
import ema4j.core.schedule.Preset;
import ema4j.djl.EmaModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.stream.IntStream;

/**
 * Does an EMA cost training time? Trains the main job's CNN on Fashion-MNIST and times every step (forward,
 * backward, optimizer, and the EMA's work) under five set-ups taken in turns of 5 steps, in a fresh random order
 * for each round of turns, so that drift of the machine's speed hits them alike and none always follows the same
 * one: no EMA, an EMA update every step, every step split over two threads, every 4th step with the decay
 * compounded, and no EMA again as a control: how far the two no-EMA
 * set-ups differ is the noise floor of the comparison on this machine. Also times the EMA update call itself, the
 * direct measure of its cost.
 *
 * <p>Two estimates of each set-up's overhead: its median step over the whole run against no EMA's, and the paired
 * one, the median over rounds of turns of the ratio of its turn's median step to no EMA's turn in the same round.
 * The machine's speed drifts between rounds, which moves the whole-run medians apart; the paired ratios compare
 * steps a second apart.
 *
 * <p>Run: {@code bench/run} runs it, or
 * {@code java --add-modules jdk.incubator.vector -cp ema4j-bench/target/benchmarks.jar
 * ema4j.bench.TrainingOverhead [steps]}.
 * Prints one line per set-up (median step time, overhead over no EMA, paired overhead with its quartiles over the
 * rounds) and the median time of one update call.
 */
public final class TrainingOverhead {
    private static final String[] SETUPS = {"no EMA", "EMA every step", "EMA every step, 2 threads",
        "EMA every 4th step", "no EMA (control)"};
    private static final int TURN = 5;

    private TrainingOverhead() {}

    /** Runs the measurement; the optional argument is the number of timed steps (default 1500). */
    public static void main(String[] args) throws Exception {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 1500;
        Engine.getInstance().setRandomSeed(1);
        Path dir = Files.isRegularFile(FashionMnistFiles.DEFAULT_DIR.resolve("train-images-idx3-ubyte.gz"))
                ? FashionMnistFiles.DEFAULT_DIR : Path.of("testdata/fashion-mnist-subset");
        FashionMnistDataset train = FashionMnistDataset.builder().files(FashionMnistFiles.locate(dir))
                .split(Split.TRAIN).setSampling(128, true).build();
        train.prepare(null);
        try (Model model = Model.newInstance("overhead", Device.cpu())) {
            model.setBlock(FashionCnn.block());
            DefaultTrainingConfig config = new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                    .optOptimizer(Optimizer.sgd().setLearningRateTracker(Tracker.fixed(0.05f)).optMomentum(0.9f)
                            .build());
            try (Trainer trainer = model.newTrainer(config)) {
                trainer.initialize(new Shape(128, 1, 28, 28));
                EmaModel every = EmaModel.track(model.getBlock(), Preset.SHORT.schedule());
                EmaModel twoThreads = EmaModel.builder(Preset.SHORT.schedule()).threads(2).track(model.getBlock());
                EmaModel fourth = EmaModel.builder(Preset.SHORT.schedule()).updateEvery(4).track(model.getBlock());
                List<List<Double>> times = new ArrayList<>();
                for (int i = 0; i < SETUPS.length; i++) {
                    times.add(new ArrayList<>());
                }
                Iterator<Batch> batches = trainer.iterateDataset(train).iterator();
                List<Double> updateCalls = new ArrayList<>();
                List<Integer> order = new ArrayList<>(IntStream.range(0, SETUPS.length).boxed().toList());
                java.util.Random shuffler = new java.util.Random(7);
                int warmup = 2 * TURN * SETUPS.length;
                // every set-up's step times by round of turns: ratios within a round cancel the drift between rounds
                double[][][] byRound = new double[steps / (TURN * SETUPS.length)][SETUPS.length][TURN];
                for (int s = 0; s < steps + warmup; s++) {
                    if (!batches.hasNext()) {
                        batches = trainer.iterateDataset(train).iterator();
                    }
                    int turn = s / TURN;
                    if (turn % SETUPS.length == 0 && s % TURN == 0) {
                        // each round of turns in a new order, so that no set-up always follows the same one
                        java.util.Collections.shuffle(order, shuffler);
                    }
                    int setup = order.get(turn % SETUPS.length);
                    long t0 = System.nanoTime();
                    try (Batch batch = batches.next()) {
                        try (GradientCollector collector = trainer.newGradientCollector()) {
                            NDList predictions = trainer.forward(batch.getData(), batch.getLabels());
                            NDArray loss = trainer.getLoss().evaluate(batch.getLabels(), predictions);
                            collector.backward(loss);
                        }
                        trainer.step();
                    }
                    switch (setup) {
                        case 1 -> {
                            long u0 = System.nanoTime();
                            every.step();
                            if (s >= warmup) {
                                updateCalls.add((System.nanoTime() - u0) / 1e6);
                            }
                        }
                        case 2 -> twoThreads.step();
                        case 3 -> fourth.step();
                        default -> { }
                    }
                    if (s >= warmup) {
                        double ms = (System.nanoTime() - t0) / 1e6;
                        times.get(setup).add(ms);
                        int round = (s - warmup) / (TURN * SETUPS.length);
                        if (round < byRound.length) {
                            byRound[round][setup][s % TURN] = ms;
                        }
                    }
                }
                twoThreads.close();
                double base = median(times.get(0));
                System.out.printf("%-24s %8s %8s %10s   %s%n", "set-up", "steps", "median", "overhead",
                        "paired by round: median (quartiles)");
                for (int i = 0; i < SETUPS.length; i++) {
                    double m = median(times.get(i));
                    List<Double> paired = new ArrayList<>();
                    for (double[][] round : byRound) {
                        paired.add(100 * (median(round[i]) / median(round[0]) - 1));
                    }
                    System.out.printf("%-24s %8d %6.2f ms %+9.2f%%   %+.2f%% (%+.2f%% to %+.2f%%)%n", SETUPS[i],
                            times.get(i).size(), m, 100 * (m / base - 1), quantile(paired, 0.5),
                            quantile(paired, 0.25), quantile(paired, 0.75));
                }
                System.out.printf("(%d rounds of turns; a round's ratio compares medians of %d-step turns)%n",
                        byRound.length, TURN);
                double call = median(updateCalls);
                System.out.printf("one EMA update call (%,d bytes of shadow): median %.3f ms = %.2f%% of the no-EMA"
                        + " step%n", every.status().shadowBytes(), call, 100 * call / base);
            }
        }
    }

    private static double median(List<Double> values) {
        return quantile(values, 0.5);
    }

    private static double median(double[] values) {
        return quantile(Arrays.stream(values).boxed().toList(), 0.5);
    }

    /** The value at rank {@code q * n} of the sorted values (the upper median for {@code q = 0.5}). */
    private static double quantile(List<Double> values, double q) {
        double[] v = values.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(v);
        return v.length == 0 ? Double.NaN : v[Math.min(v.length - 1, (int) (q * v.length))];
    }
}
