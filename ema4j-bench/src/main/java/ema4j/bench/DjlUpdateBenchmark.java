package ema4j.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ema4j.core.TensorSpec;
import ema4j.core.schedule.DecaySchedule;
import ema4j.djl.EmaModel;
import ema4j.djl.ShadowPlacement;
import java.util.ArrayList;
import java.util.List;
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
 * On DJL's PyTorch CPU engine, is ema4j's update over the tensors' own memory faster than the EMA written with
 * NDArray operations?
 *
 * <p>{@code ema4j}: {@code EmaModel.step()}, what users call, on a block holding the live NDArrays (read in place
 * through {@code toByteBuffer(true)}, zero-copy on this engine). {@code ema4j-device}: the same call with the shadows
 * kept as NDArrays beside the weights ({@code ShadowPlacement.MODEL_DEVICE}, what a GPU model gets), the non-finite
 * check and the update done with NDArray operations. {@code ndarray-inplace}: {@code
 * e.subi(p).muli(d).addi(p)} per tensor, the DJL-only way without temporaries. {@code ndarray-temporary}: {@code
 * e.muli(d).addi(p.mul(1 - d))}, closing the temporary. {@code threads} is ema4j's split and PyTorch's intra-op
 * thread count ({@code ai.djl.pytorch.num_threads}, set before the engine loads).
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector -jar ema4j-bench/target/benchmarks.jar DjlUpdateBenchmark
 * -f 1 -wi 3 -i 5} (or all of them through {@code bench/run}).
 *
 * <p>Sample mode times every update; {@code bench/table.py} takes their median, the statistic of the C and PyTorch
 * lines it compares them with (a mean would carry the odd slow update that those leave out).
 */
@BenchmarkMode(Mode.SampleTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@State(Scope.Benchmark)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx4g", "-Dai.djl.offline=true"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class DjlUpdateBenchmark {
    private static final float DECAY = 0.999f;

    /** The parameter set, see {@link ParameterSets}. */
    @Param({"resnet50", "100m"})
    public String set;

    /** {@code ema4j}, {@code ema4j-device}, {@code ndarray-inplace} or {@code ndarray-temporary}. */
    @Param({"ema4j", "ema4j-device", "ndarray-inplace", "ndarray-temporary"})
    public String variant;

    /** ema4j's threads and PyTorch's intra-op threads. */
    @Param({"1", "2"})
    public int threads;

    private NDManager manager;
    private final List<NDArray> live = new ArrayList<>();
    private final List<NDArray> shadow = new ArrayList<>();
    private EmaModel ema;

    /** Loads the PyTorch engine with the chosen thread count and creates the live tensors (and NDArray shadows). */
    @Setup(Level.Trial)
    public void setUp() {
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        manager = Engine.getEngine("PyTorch").newBaseManager();
        List<TensorSpec> tensors = ParameterSets.named(set);
        manager.getEngine().setRandomSeed(42);
        for (TensorSpec spec : tensors) {
            live.add(manager.randomUniform(-1f, 1f, new Shape(spec.shape())));
        }
        switch (variant) {
            case "ema4j", "ema4j-device" -> ema = EmaModel.builder(DecaySchedule.constant(DECAY)).threads(threads)
                    .shadowPlacement(variant.equals("ema4j") ? ShadowPlacement.HOST : ShadowPlacement.MODEL_DEVICE)
                    .track(new ParameterBlock(tensors.stream().map(TensorSpec::name).toList(), live));
            case "ndarray-inplace", "ndarray-temporary" -> live.forEach(p -> shadow.add(p.duplicate()));
            default -> throw new IllegalArgumentException(
                    "variant must be ema4j, ema4j-device, ndarray-inplace or ndarray-temporary, was " + variant);
        }
    }

    /** One update of every tensor of the set. */
    @Benchmark
    public Object update() {
        switch (variant) {
            case "ema4j", "ema4j-device" -> {
                return ema.step();
            }
            case "ndarray-inplace" -> {
                for (int i = 0; i < shadow.size(); i++) {
                    NDArray p = live.get(i);
                    shadow.get(i).subi(p).muli(DECAY).addi(p);
                }
            }
            default -> {
                for (int i = 0; i < shadow.size(); i++) {
                    try (NDArray weighted = live.get(i).mul(1 - DECAY)) {
                        shadow.get(i).muli(DECAY).addi(weighted);
                    }
                }
            }
        }
        return shadow;
    }

    /** Frees the native tensors. */
    @TearDown(Level.Trial)
    public void tearDown() {
        manager.close();
    }
}
