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
import ema4j.djl.EmaModel;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.SplittableRandom;

/**
 * The Java updates that {@link TurnPeer} times, over one parameter set and thread count: {@code djl-ema4j}, the
 * update users run ({@code EmaModel.step()} on a DJL block whose parameters are PyTorch tensors of the set's shapes,
 * non-finite check on); {@code ema4j}, the same kernel through {@code EmaState.update} on Java direct buffers made
 * once ({@link NativeWeights}), which leaves out what fetching DJL's buffers costs for every update;
 * {@code ema4j-on-tensors}, the same kernel through {@code EmaState.update} on buffers over {@code djl-ema4j}'s own
 * tensors, fetched once (nothing writes those tensors here), so that it differs from {@code djl-ema4j} only by the
 * per-update fetch and {@code EmaModel}'s bookkeeping, and from {@code ema4j} only by whose memory it reads; and
 * {@code java-baseline}, {@link FloatArrayBaseline} over {@code float[]} arrays of the same shapes and threads.
 */
final class TimedUpdates implements AutoCloseable {
    static final String EMA = "djl-ema4j";
    static final String KERNEL = "ema4j";
    static final String KERNEL_ON_TENSORS = "ema4j-on-tensors";
    static final String BASELINE = "java-baseline";
    /** The updates' names, in the order {@link TurnPeer} warms them up. */
    static final List<String> NAMES = List.of(EMA, KERNEL, KERNEL_ON_TENSORS, BASELINE);
    private static final float DECAY = 0.999f;

    private final NDManager manager;
    private final FloatArrayBaseline baseline;
    private final Map<String, Runnable> updates;

    /**
     * @param set {@code resnet50} or {@code 100m} ({@link ParameterSets#named})
     * @param threads threads of both updates, {@code >= 1}
     */
    TimedUpdates(String set, int threads) {
        List<TensorSpec> tensors = ParameterSets.named(set);
        manager = Engine.getEngine("PyTorch").newBaseManager();
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
        EmaModel ema = EmaModel.builder(DecaySchedule.constant(DECAY)).threads(threads)
                .track(new ParameterBlock(tensors.stream().map(TensorSpec::name).toList(), live));
        baseline = new FloatArrayBaseline(baselineShadow, baselineLive, threads);
        ByteBuffer[] buffers = NativeWeights.random(tensors, new SplittableRandom(42));
        LiveWeights direct = i -> buffers[i];
        EmaState kernel = EmaState.builder(DecaySchedule.constant(DECAY)).threads(threads).start(tensors, direct);
        ByteBuffer[] tensorBuffers = live.stream().map(a -> a.toByteBuffer(true).order(ByteOrder.nativeOrder()))
                .toArray(ByteBuffer[]::new);
        LiveWeights fetchedOnce = i -> tensorBuffers[i];
        EmaState onTensors = EmaState.builder(DecaySchedule.constant(DECAY)).threads(threads)
                .start(tensors, fetchedOnce);
        updates = Map.of(EMA, ema::step, KERNEL, () -> kernel.update(direct),
                KERNEL_ON_TENSORS, () -> onTensors.update(fetchedOnce), BASELINE, () -> baseline.update(1 - DECAY));
    }

    /** The update of that name, one of {@link #NAMES}. */
    Runnable update(String name) {
        Runnable update = updates.get(name);
        if (update == null) {
            throw new IllegalArgumentException("update must be one of " + NAMES + ", was " + name);
        }
        return update;
    }

    @Override
    public void close() {
        baseline.close();
        manager.close();
    }
}
