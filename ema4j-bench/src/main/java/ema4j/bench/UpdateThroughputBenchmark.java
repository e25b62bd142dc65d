package ema4j.bench;

import ema4j.core.EmaState;
import ema4j.core.LiveWeights;
import ema4j.core.NonFinitePolicy;
import ema4j.core.TensorSpec;
import ema4j.core.UpdateResult;
import ema4j.core.schedule.DecaySchedule;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Does one ema4j update run at the memory speed of the same update over plain {@code float[]} arrays?
 *
 * <p>{@code ema4j}: {@link EmaState#update} on live weights in native-order direct buffers (as DJL hands them out),
 * non-finite check included. {@code baseline}: {@link FloatArrayBaseline}, the same arithmetic over heap arrays with
 * no check and the same split over threads. Each update reads the live and shadow values and writes the shadow:
 * 12 bytes per parameter, which {@code bench/table.py} turns into GB/s.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector -jar ema4j-bench/target/benchmarks.jar
 * UpdateThroughputBenchmark -f 1 -wi 3 -i 5} (or all of them through {@code bench/run}).
 *
 * <p>Sample mode times every update; {@code bench/table.py} takes their median, the statistic of the C and PyTorch
 * lines it compares them with (a mean would carry the odd slow update that those leave out).
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@State(Scope.Benchmark)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx4g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class UpdateThroughputBenchmark {
    private static final double DECAY = 0.999;

    /** The parameter set, see {@link ParameterSets}. */
    @Param({"resnet50", "100m"})
    public String set;

    /** {@code ema4j} or {@code baseline}. */
    @Param({"ema4j", "baseline"})
    public String variant;

    /** Threads the update is split over. */
    @Param({"1", "2"})
    public int threads;

    private EmaState ema;
    private LiveWeights live;
    private FloatArrayBaseline baseline;

    /** Allocates and fills the live weights and the shadow of the chosen variant only. */
    @Setup(Level.Trial)
    public void setUp() {
        List<TensorSpec> tensors = ParameterSets.named(set);
        SplittableRandom random = new SplittableRandom(42);
        switch (variant) {
            case "ema4j" -> {
                ByteBuffer[] buffers = NativeWeights.random(tensors, random);
                live = i -> buffers[i];
                ema = EmaState.builder(DecaySchedule.constant(DECAY)).threads(threads).start(tensors, live);
                System.out.println("[ema4j-bench] jdk.incubator.vector present: "
                        + ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent());
            }
            case "baseline" -> {
                float[][] shadow = new float[tensors.size()][];
                float[][] weights = new float[tensors.size()][];
                for (int i = 0; i < shadow.length; i++) {
                    int n = tensors.get(i).elementCount();
                    weights[i] = new float[n];
                    for (int k = 0; k < n; k++) {
                        weights[i][k] = (float) random.nextDouble(-1, 1);
                    }
                    shadow[i] = weights[i].clone();
                }
                baseline = new FloatArrayBaseline(shadow, weights, threads);
            }
            default -> throw new IllegalArgumentException("variant must be ema4j or baseline, was " + variant);
        }
    }

    /** One update of every tensor of the set. */
    @Benchmark
    public Object update() {
        if (ema != null) {
            UpdateResult result = ema.update(live);
            return result;
        }
        baseline.update((float) (1 - DECAY));
        return baseline;
    }

    /** Stops the baseline's pool; the state's daemon threads end with the fork. */
    @TearDown(Level.Trial)
    public void tearDown() {
        if (baseline != null) {
            baseline.close();
        }
    }
}
