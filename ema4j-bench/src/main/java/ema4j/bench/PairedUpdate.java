package ema4j.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ema4j.core.EmaState;
import ema4j.core.LiveWeights;
import ema4j.core.NonFinitePolicy;
import ema4j.core.TensorSpec;
import ema4j.core.schedule.DecaySchedule;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * The EMA update that users run against the same-run Java baseline, taken in turns inside one process: the ratio
 * of two JMH forks run minutes apart on a shared machine carries the machine's drift between them, a ratio of
 * turns a few milliseconds apart does not.
 *
 * <p>For each parameter set and thread count: the live weights are PyTorch tensors made by DJL, averaged by
 * {@code EmaState.update} through {@code toByteBuffer(true)} (what {@code EmaModel.step()} runs, non-finite check
 * on), and the baseline is {@link FloatArrayBaseline} over {@code float[]} arrays of the same shapes and threads. Each
 * round times five updates of each, in a random order of the two, and keeps each one's fastest; the round's ratio is
 * baseline / ema4j (1 = as fast). Prints one line per set and thread count:
 * {@code paired SET THREADS baseline_ms ema4j_ms ratio_median ratio_min ratio_max rounds}, the times being medians
 * over rounds.
 *
 * <p>Run: {@code bench/run} runs it, or {@code java --add-modules jdk.incubator.vector -Xmx3g -cp
 * ema4j-bench/target/benchmarks.jar ema4j.bench.PairedUpdate [rounds]} (default 15).
 */
public final class PairedUpdate {
    private static final int TURN = 5;
    private static final float DECAY = 0.999f;

    private PairedUpdate() {}

    /** Runs every set and thread count; the optional argument is the number of rounds. */
    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        if (rounds < 1) {
            throw new IllegalArgumentException("rounds must be >= 1, was " + rounds);
        }
        System.setProperty("ai.djl.pytorch.num_threads", "1");
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        for (String set : List.of("resnet50", "100m")) {
            for (int threads : new int[] {1, 2}) {
                System.out.println(measure(set, threads, rounds));
                System.out.flush();
            }
        }
    }

    private static String measure(String set, int threads, int rounds) {
        List<TensorSpec> tensors = ParameterSets.named(set);
        try (NDManager manager = Engine.getEngine("PyTorch").newBaseManager()) {
            manager.getEngine().setRandomSeed(42);
            List<NDArray> live = new ArrayList<>();
            float[][] baselineShadow = new float[tensors.size()][];
            float[][] baselineLive = new float[tensors.size()][];
            Random random = new Random(42);
            for (int i = 0; i < tensors.size(); i++) {
                TensorSpec spec = tensors.get(i);
                live.add(manager.randomUniform(-1f, 1f, new Shape(spec.shape())));
                baselineLive[i] = new float[spec.elementCount()];
                baselineShadow[i] = new float[spec.elementCount()];
                for (int k = 0; k < baselineLive[i].length; k++) {
                    baselineLive[i][k] = random.nextFloat() * 2 - 1;
                    baselineShadow[i][k] = baselineLive[i][k];
                }
            }
            LiveWeights weights = i -> live.get(i).toByteBuffer(true).order(ByteOrder.nativeOrder());
            EmaState ema = EmaState.start(DecaySchedule.constant(DECAY), tensors, NonFinitePolicy.FAIL, weights,
                    threads);
            try (FloatArrayBaseline baseline = new FloatArrayBaseline(baselineShadow, baselineLive, threads)) {
                Runnable[] variants = {() -> baseline.update(1 - DECAY), () -> ema.update(weights)};
                for (int w = 0; w < 4 * TURN; w++) {
                    variants[0].run();
                    variants[1].run();
                }
                double[][] ms = new double[2][rounds];
                Random order = new Random(7);
                for (int r = 0; r < rounds; r++) {
                    int first = order.nextInt(2);
                    ms[first][r] = fastest(variants[first]);
                    ms[1 - first][r] = fastest(variants[1 - first]);
                }
                double[] ratios = new double[rounds];
                for (int r = 0; r < rounds; r++) {
                    ratios[r] = ms[0][r] / ms[1][r];
                }
                Arrays.sort(ratios);
                return String.format(java.util.Locale.ROOT, "paired %s %d %.3f %.3f %.3f %.3f %.3f %d", set, threads,
                        median(ms[0]), median(ms[1]), median(ratios), ratios[0], ratios[rounds - 1], rounds);
            }
        }
    }

    private static double fastest(Runnable update) {
        long best = Long.MAX_VALUE;
        for (int k = 0; k < TURN; k++) {
            long start = System.nanoTime();
            update.run();
            best = Math.min(best, System.nanoTime() - start);
        }
        return best / 1e6;
    }

    private static double median(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
