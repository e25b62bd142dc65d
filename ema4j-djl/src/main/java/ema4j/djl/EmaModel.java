package ema4j.djl;

import static ema4j.core.internal.Preconditions.requireArgument;
import static ema4j.core.internal.Preconditions.requireState;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.norm.BatchNorm;
import ai.djl.util.Pair;
import ema4j.core.internal.EmaClock;
import ema4j.core.Arithmetic;
import ema4j.core.EmaSnapshot;
import ema4j.core.EmaState;
import ema4j.core.NonFinitePolicy;
import ema4j.core.TensorSpec;
import ema4j.core.UpdateResult;
import ema4j.core.WeightFormat;
import ema4j.core.policy.ParameterInfo;
import ema4j.core.policy.ParameterPolicy;
import ema4j.core.policy.ParameterRule;
import ema4j.core.schedule.DecaySchedule;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An exponential moving average of a DJL block's weights: the "shadow model" of diffusion_policy's
 * {@code EMAModel}.
 *
 * <p>Call {@link #step()} once after every {@code trainer.step()}. Which parameters are averaged is decided by a
 * {@link ParameterPolicy} when tracking starts, and again when a parameter is frozen or unfrozen later (an unfrozen
 * parameter is averaged from then on, its shadow starting from its value then); {@link #parameters()} lists each with
 * the rule in force and its reason. Averaged
 * parameters get a float32 (float64 for float64 weights) shadow; copied parameters (BatchNorm, running statistics,
 * frozen) get none: the EMA model reads them from the live block, so they cost no memory. Shadows live in host memory
 * for a model on the CPU and beside the weights for a model on a GPU ({@link ShadowPlacement}).
 *
 * <p>Evaluate on EMA weights by {@link #withEmaWeights running code} with them swapped into the live block, or
 * {@link #swapIn() swapping} them in for a scope (the live weights come back bit-exactly either way), or build a
 * standalone {@link #averagedModel averaged model}. Several EMAs of one block (of different lengths, say) are
 * independent, but only one may have its weights swapped in at a time, and none updates while one is.
 *
 * <p>Not thread-safe: the training loop owns it.
 */
public final class EmaModel implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EmaModel.class);

    private final Block block;
    /** The options it was built with, to decide the rules again when parameters are frozen or unfrozen. */
    private final Builder options;
    private List<Tracked> tracked;
    private ShadowStore shadows;
    private final LongSupplier optimizerSteps;
    private final int updateEvery;
    private long optimizerStepsAtLastUpdate;
    private int stepsSinceUpdate;
    private boolean warnedDoubleStep;
    private boolean warnedMissedStep;
    private Swap openSwap;
    private boolean closed;

    private EmaModel(Builder b, Block block, List<Tracked> tracked, ShadowStore shadows) {
        this.block = block;
        this.options = b.copy();
        this.tracked = tracked;
        this.shadows = shadows;
        this.optimizerSteps = b.optimizerSteps;
        this.updateEvery = b.updateEvery;
        this.optimizerStepsAtLastUpdate = optimizerSteps == null ? 0 : optimizerSteps.getAsLong();
    }

    /**
     * Starts an EMA of {@code block} with diffusion_policy's parameter policy; the shadow starts as a copy of the
     * weights.
     *
     * @param block an initialized block
     * @param schedule the decay schedule
     */
    public static EmaModel track(Block block, DecaySchedule schedule) {
        return builder(schedule).track(block);
    }

    /** A builder for the options beyond the schedule. */
    public static Builder builder(DecaySchedule schedule) {
        return new Builder(schedule);
    }

    /**
     * Averages the live weights in; call it once after each {@code trainer.step()}.
     *
     * <p>With {@link Builder#optimizerSteps} set, the EMA checks the optimizer's step count: a call without an
     * optimizer step since the last update does nothing (gradient accumulation calling it per micro-batch), and steps
     * it missed are folded into this update with a compounded decay; both are logged once as warnings. With
     * {@link Builder#updateEvery} k, only every k-th step updates, with the decay of k steps compounded.
     *
     * @return what the update did; {@code steps() == 0} when there was nothing to average
     * @throws ema4j.core.NonFiniteWeightsException when a weight is NaN or infinite under the default policy
     */
    public UpdateResult step() {
        requireUsable("step()");
        int steps = stepsDue();
        if (steps == 0) {
            return new UpdateResult(false, shadows.clock().nextDecay(), 0, null, -1);
        }
        followFreezing();
        return reported(shadows.update(steps));
    }

    /**
     * Fails unless this EMA is open and no EMA's weights (this one's or another's over the same parameters) are
     * swapped into the tracked parameters now, which would make the live values EMA values.
     */
    private void requireUsable(String call) {
        requireState(!closed, "this EMA is closed");
        requireState(openSwap == null, "the EMA weights are swapped into the model; close the swap before " + call);
        EmaModel other = Swaps.holder(tracked);
        requireState(other == null, "the weights of another EMA of this block are swapped into it; close that swap"
                + " before " + call + " (" + other + ")");
    }

    private List<Parameter> averagedParameters() {
        List<Parameter> parameters = new ArrayList<>(tracked.size());
        for (Tracked t : tracked) {
            if (t.rule == ParameterRule.AVERAGE) {
                parameters.add(t.parameter);
            }
        }
        return parameters;
    }

    /**
     * Decides the rules again when a parameter was frozen or unfrozen since they were last decided: a parameter that
     * now averages gets a shadow starting from its current value, one that now copies loses its shadow. Reads one
     * flag per parameter on every update; does the rest only when one changed.
     */
    private void followFreezing() {
        for (Tracked t : tracked) {
            if (t.parameter.requiresGradient() != t.trainable) {
                retrack();
                return;
            }
        }
    }

    private void retrack() {
        Builder.Plan plan = options.plan(block);
        EmaSnapshot before = shadows.snapshot();
        Map<String, EmaSnapshot.SavedShadow> kept = new LinkedHashMap<>();
        for (EmaSnapshot.SavedShadow shadow : before.shadows()) {
            kept.put(shadow.name(), shadow);
        }
        List<EmaSnapshot.SavedShadow> carried = new ArrayList<>();
        for (int i = 0; i < plan.specs().size(); i++) {
            TensorSpec spec = plan.specs().get(i);
            EmaSnapshot.SavedShadow shadow = kept.remove(spec.name());
            if (shadow == null) {
                LOG.info("EMA: parameter {} trains now; it is averaged from this update on, starting from its current"
                        + " value", spec.name());
                NDArray live = plan.averaged().get(i).getArray();
                shadow = new EmaSnapshot.SavedShadow(new TensorSpec(spec.name(), spec.shape(), live.getDataType()
                        == DataType.FLOAT64 ? WeightFormat.FLOAT64 : WeightFormat.FLOAT32), shadowOf(live));
            }
            carried.add(shadow);
        }
        for (String name : kept.keySet()) {
            LOG.info("EMA: parameter {} is frozen now; the EMA model copies its live value from this update on", name);
        }
        ShadowStore next = options.store(plan, EmaSnapshot.of(before.schedule(), before.updates(),
                before.skippedUpdates(), carried));
        shadows.close();
        shadows = next;
        tracked = plan.tracked();
    }

    /** A live array's values as a shadow starts them: float32 (float64 for float64), little-endian. */
    private static ByteBuffer shadowOf(NDArray live) {
        if (live.getDataType() == DataType.FLOAT64 || live.getDataType() == DataType.FLOAT32) {
            return ElementCopy.littleEndian(live);
        }
        try (NDArray wide = live.toType(DataType.FLOAT32, true)) {
            return ElementCopy.littleEndian(wide);
        }
    }

    private UpdateResult reported(UpdateResult result) {
        if (!result.applied()) {
            LOG.warn("EMA update skipped: weight {}[{}] is not finite ({} skipped so far)",
                    result.nonFiniteParameter(), result.nonFiniteElement(), shadows.clock().skippedUpdates());
        }
        return result;
    }

    /** Step accounting: how many optimizer steps the update due now stands for, 0 when none is due. */
    private int stepsDue() {
        if (optimizerSteps != null) {
            long now = optimizerSteps.getAsLong();
            long pendingSteps = now - optimizerStepsAtLastUpdate;
            if (pendingSteps - stepsSinceUpdate == 0) {
                if (!warnedDoubleStep) {
                    LOG.warn("EMA step() called without an optimizer step since the previous call (optimizer step {});"
                            + " ignored. Call ema.step() once after trainer.step(), not per micro-batch.", now);
                    warnedDoubleStep = true;
                }
                return 0;
            }
            if (pendingSteps - stepsSinceUpdate > 1 && !warnedMissedStep) {
                LOG.warn("EMA step() missed {} optimizer step(s) before optimizer step {}; their decay is compounded"
                        + " into this update so the averaging horizon is kept.", pendingSteps - stepsSinceUpdate - 1,
                        now);
                warnedMissedStep = true;
            }
            stepsSinceUpdate = (int) pendingSteps;
        } else {
            stepsSinceUpdate++;
        }
        if (stepsSinceUpdate < updateEvery) {
            return 0;
        }
        int steps = stepsSinceUpdate;
        stepsSinceUpdate = 0;
        if (optimizerSteps != null) {
            optimizerStepsAtLastUpdate += steps;
        }
        return steps;
    }

    /**
     * Puts the EMA weights into the tracked block until the returned scope is closed; then the live weights come back
     * bit-exactly. Values are exchanged in place: on the CPU no memory is allocated. Where the code to run fits a
     * lambda that throws at most one kind of checked exception, {@link #withEmaWeights} is shorter; otherwise
     * <pre>{@code
     * EmaModel.Swap emaWeights = ema.swapIn();
     * try (emaWeights) {
     *     evaluation = EasyTrain.evaluateDataset(trainer, validation);   // on the EMA weights
     * }
     * }</pre>
     * (a resource declared in the {@code try} and not used in its body draws javac's {@code [try]} warning).
     *
     * @throws IllegalStateException when this EMA's or another EMA's weights are swapped into the block already
     */
    public Swap swapIn() {
        requireState(!closed, "this EMA is closed");
        requireState(openSwap == null, "the EMA weights are already swapped in; close that swap first");
        checkMatches(block);
        Swaps.claim(this, averagedParameters(), tracked);
        try {
            shadows.exchange();
        } catch (RuntimeException e) {
            Swaps.release(this);
            throw e;
        }
        openSwap = new Swap();
        return openSwap;
    }

    /**
     * Runs {@code body} with the EMA weights swapped into the tracked block, e.g. to evaluate them, and puts the live
     * weights back bit-exactly afterwards, also when {@code body} throws: {@code double accuracy =
     * ema.withEmaWeights(() -> accuracyOf(model))}. Java infers one checked exception type for the lambda; a body
     * that throws two kinds (as {@code EasyTrain.evaluateDataset} does) reads better with {@link #swapIn()}.
     *
     * @return what {@code body} returns
     * @throws E what {@code body} throws
     * @throws IllegalStateException when this EMA's or another EMA's weights are swapped into the block already
     */
    public <T, E extends Exception> T withEmaWeights(WithWeights<T, E> body) throws E {
        Swap swap = swapIn();
        try {
            return body.run();
        } finally {
            swap.close();
        }
    }

    /**
     * Code to run with the EMA weights in the block ({@link #withEmaWeights}).
     *
     * @param <T> what it returns
     * @param <E> what it may throw
     */
    @FunctionalInterface
    public interface WithWeights<T, E extends Exception> {
        /** Runs with the EMA weights in the block. */
        T run() throws E;
    }

    /**
     * A standalone DJL model holding the EMA weights: averaged parameters from the shadow, copied ones from the live
     * block. Save it with {@code Model.save}; plain DJL loads it into a block built by the same factory.
     *
     * @param name the model's name, used by {@code Model.save} for the file name
     * @param blockFactory builds a fresh block of the same architecture as the tracked one
     * @throws IllegalArgumentException when the factory's block does not have the tracked parameters
     */
    public Model averagedModel(String name, Supplier<Block> blockFactory) {
        requireUsable("averagedModel()");
        Block fresh = blockFactory.get();
        Model model = Model.newInstance(name, Device.cpu());
        try {
            model.setBlock(fresh);
            DataType dtype = tracked.get(0).parameter.getArray().getDataType();
            fresh.initialize(model.getNDManager(), dtype, block.getInputShapes());
            checkMatches(fresh);
            Map<String, Parameter> byName = new LinkedHashMap<>();
            for (Pair<String, Parameter> p : fresh.getParameters()) {
                byName.put(p.getKey(), p.getValue());
            }
            int averagedIndex = 0;
            for (Tracked t : tracked) {
                NDArray target = byName.get(t.name).getArray();
                ByteBuffer values;
                if (t.rule == ParameterRule.AVERAGE) {
                    values = ByteBuffer.allocateDirect(Math.toIntExact(target.size() * dtypeBytes(target)))
                            .order(ByteOrder.nativeOrder());
                    shadows.writeShadow(averagedIndex++, values);
                } else {
                    values = t.parameter.getArray().toByteBuffer(false);
                }
                target.set(values.rewind());
            }
            return model;
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    private static long dtypeBytes(NDArray array) {
        return array.getDataType().getNumOfBytes();
    }

    /**
     * Fails with a clear message unless {@code other} has exactly the tracked parameters: same names, shapes and data
     * types, in any order. The message lists the first differences.
     */
    void checkMatches(Block other) {
        Map<String, String> expected = new LinkedHashMap<>();
        for (Tracked t : tracked) {
            expected.put(t.name, t.shape + " " + t.dtype);
        }
        Map<String, String> actual = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : other.getParameters()) {
            NDArray array = p.getValue().getArray();
            actual.put(p.getKey(), array == null ? "(uninitialized)" : array.getShape() + " " + array.getDataType());
        }
        List<String> differences = new ArrayList<>();
        for (Map.Entry<String, String> e : expected.entrySet()) {
            String found = actual.get(e.getKey());
            if (found == null) {
                differences.add("missing " + e.getKey() + " " + e.getValue());
            } else if (!found.equals(e.getValue())) {
                differences.add(e.getKey() + ": EMA holds " + e.getValue() + ", block has " + found);
            }
        }
        for (Map.Entry<String, String> e : actual.entrySet()) {
            if (!expected.containsKey(e.getKey())) {
                differences.add("unexpected " + e.getKey() + " " + e.getValue());
            }
        }
        if (!differences.isEmpty()) {
            int shown = Math.min(5, differences.size());
            throw new IllegalArgumentException("block's parameters must match the EMA's, but " + differences.size()
                    + " differ: " + String.join("; ", differences.subList(0, shown))
                    + (differences.size() > shown ? "; ..." : ""));
        }
    }

    /**
     * Writes the EMA model's value of parameter {@code name} into {@code target} in the parameter's live format and
     * the target's byte order: the shadow for an averaged parameter, the live value for a copied one.
     *
     * @throws IllegalArgumentException when the block has no such parameter or the target is too small
     */
    public void readEmaWeight(String name, ByteBuffer target) {
        requireUsable("readEmaWeight()");
        int averagedIndex = 0;
        for (Tracked t : tracked) {
            if (t.name.equals(name)) {
                if (t.rule == ParameterRule.AVERAGE) {
                    shadows.writeShadow(averagedIndex, target);
                } else {
                    ByteBuffer live = t.parameter.getArray().toByteBuffer(false).order(ByteOrder.nativeOrder());
                    requireArgument(target.remaining() >= live.remaining(), "target of " + name,
                            "at least " + live.remaining() + " bytes", target.remaining());
                    ElementCopy.copy(live, target, t.parameter.getArray().getDataType().getNumOfBytes());
                }
                return;
            }
            if (t.rule == ParameterRule.AVERAGE) {
                averagedIndex++;
            }
        }
        throw new IllegalArgumentException("name must be a parameter of the tracked block, was " + name);
    }

    /** Every parameter of the tracked block with its rule and the reason, in the block's order. */
    public List<ParameterReport> parameters() {
        requireState(!closed, "this EMA is closed");
        List<ParameterReport> reports = new ArrayList<>(tracked.size());
        for (Tracked t : tracked) {
            reports.add(new ParameterReport(t.name, t.shape, t.dtype, t.rule, t.reason));
        }
        return reports;
    }

    /** The parameter rules as a text table, one line per parameter. */
    public String describeParameters() {
        requireState(!closed, "this EMA is closed");
        int width = 4;
        for (Tracked t : tracked) {
            width = Math.max(width, t.name.length());
        }
        StringBuilder out = new StringBuilder(String.format("%-" + width + "s  %-16s  %-8s  %s%n", "name", "shape",
                "rule", "reason"));
        for (Tracked t : tracked) {
            out.append(String.format("%-" + width + "s  %-16s  %-8s  %s%n", t.name, t.shape,
                    t.rule.name().toLowerCase(java.util.Locale.ROOT), t.reason));
        }
        return out.toString();
    }

    /** Counters and telemetry now. */
    public EmaStatus status() {
        requireState(!closed, "this EMA is closed");
        int averagedCount = shadows.tensors().size();
        EmaClock clock = shadows.clock();
        return new EmaStatus(clock.updates(), clock.skippedUpdates(), clock.lastDecay(), clock.nextDecay(),
                clock.horizon(), clock.schedule(), averagedCount, tracked.size() - averagedCount,
                shadows.shadowBytes(), clock.nonFinitePolicy());
    }

    /**
     * Relative distance {@code |EMA - w| / |w|} (L2 over all averaged parameters) between the EMA and the live
     * weights. Computed on request; costs one pass over the averaged parameters.
     */
    public double drift() {
        requireUsable("drift()");
        return shadows.drift();
    }

    /**
     * The schedule, the counts and a copy of every averaged parameter's shadow by name, at the shadow's own precision:
     * what {@link Builder#resume} turns back into this EMA bit for bit, wherever its shadows are kept.
     */
    public EmaSnapshot snapshot() {
        requireState(!closed, "this EMA is closed");
        requireState(openSwap == null, "the EMA weights are swapped into the model; close the swap first");
        EmaSnapshot saved = shadows.snapshot();
        return new EmaSnapshot(saved.schedule(), saved.updates(), saved.skippedUpdates(), saved.shadows(),
                rules(tracked));
    }

    private static Map<String, ParameterRule> rules(List<Tracked> tracked) {
        Map<String, ParameterRule> rules = new LinkedHashMap<>();
        for (Tracked t : tracked) {
            rules.put(t.name, t.rule);
        }
        return rules;
    }

    /** Where the shadows are: {@link ShadowPlacement#HOST} or {@link ShadowPlacement#MODEL_DEVICE}. */
    public ShadowPlacement placement() {
        requireState(!closed, "this EMA is closed");
        return shadows instanceof HostShadows ? ShadowPlacement.HOST : ShadowPlacement.MODEL_DEVICE;
    }

    /**
     * Puts the live weights back if a swap is open, stops the update's threads and frees the shadows held outside
     * the Java heap (on the model's device); the EMA cannot be used afterwards. Host shadows are left to the garbage
     * collector. Closing the model frees device shadows too. A second call does nothing.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        try {
            if (openSwap != null) {
                openSwap.close();
            }
        } finally {
            closed = true;
            shadows.close();
        }
    }

    /** The tracked block. */
    Block block() {
        return block;
    }

    @Override
    public String toString() {
        return "EmaModel{" + shadows + ", averaged=" + shadows.tensors().size() + "/" + tracked.size()
                + ", updateEvery=" + updateEvery + "}";
    }

    /** The scope of a {@link #swapIn swap}: closing it puts the live weights back. */
    public final class Swap implements AutoCloseable {
        private boolean closed;

        private Swap() {}

        /** Puts the live weights back, bit-exactly; a second call does nothing. */
        @Override
        public void close() {
            if (!closed) {
                closed = true;
                try {
                    shadows.exchange();
                } finally {
                    openSwap = null;
                    Swaps.release(EmaModel.this);
                }
            }
        }
    }

    /**
     * Which EMA has its weights swapped into which parameters, across every EMA of the JVM: EMAs of one block (or of
     * blocks that share parameters) must not exchange weights over each other. Parameters are held weakly, by
     * identity.
     */
    private static final class Swaps {
        private static final Map<Parameter, EmaModel> SWAPPED = new WeakHashMap<>();

        private Swaps() {}

        /** Records that {@code ema} swaps into {@code averaged}, unless another EMA is in any of {@code all}. */
        static synchronized void claim(EmaModel ema, List<Parameter> averaged, List<Tracked> all) {
            EmaModel other = holder(all);
            requireState(other == null || other == ema, "the weights of another EMA of this block are swapped into"
                    + " it; close that swap first (" + other + ")");
            for (Parameter p : averaged) {
                SWAPPED.put(p, ema);
            }
        }

        static synchronized void release(EmaModel ema) {
            SWAPPED.values().removeIf(holder -> holder == ema);
        }

        /** The EMA whose weights are swapped into any of the parameters, or null. */
        static synchronized EmaModel holder(List<Tracked> parameters) {
            for (Tracked t : parameters) {
                EmaModel holder = SWAPPED.get(t.parameter);
                if (holder != null) {
                    return holder;
                }
            }
            return null;
        }
    }

    /**
     * One tracked parameter and its rule.
     *
     * @param trainable whether it required a gradient when the rule was decided
     */
    private record Tracked(String name, Parameter parameter, String shape, String dtype, ParameterRule rule,
            String reason, boolean trainable) {}

    /** Options of an EMA: parameter policy, non-finite policy, step accounting, update interval. */
    public static final class Builder {
        private final DecaySchedule schedule;
        private ParameterPolicy policy = ParameterPolicy.diffusionPolicy();
        private NonFinitePolicy nonFinite = NonFinitePolicy.FAIL;
        private LongSupplier optimizerSteps;
        private int updateEvery = 1;
        private int threads = 1;
        private boolean zeroCopy = true;
        private ShadowPlacement placement = ShadowPlacement.AUTO;
        private Arithmetic arithmetic = Arithmetic.FUSED;

        private Builder(DecaySchedule schedule) {
            requireArgument(schedule != null, "schedule", "non-null", null);
            this.schedule = schedule;
        }

        private Builder copy() {
            Builder b = new Builder(schedule);
            b.policy = policy;
            b.nonFinite = nonFinite;
            b.optimizerSteps = optimizerSteps;
            b.updateEvery = updateEvery;
            b.threads = threads;
            b.zeroCopy = zeroCopy;
            b.placement = placement;
            b.arithmetic = arithmetic;
            return b;
        }

        /** Which parameters are averaged; diffusion_policy's by default. */
        public Builder policy(ParameterPolicy policy) {
            requireArgument(policy != null, "policy", "non-null", null);
            this.policy = policy;
            return this;
        }

        /** What an update does with a NaN or infinite weight; {@link NonFinitePolicy#FAIL} by default. */
        public Builder nonFinite(NonFinitePolicy policy) {
            requireArgument(policy != null, "nonFinite", "non-null", null);
            this.nonFinite = policy;
            return this;
        }

        /** The optimizer's step count, e.g. {@link EmaOptimizer#steps()}, for step accounting. */
        public Builder optimizerSteps(LongSupplier steps) {
            requireArgument(steps != null, "optimizerSteps", "non-null", null);
            this.optimizerSteps = steps;
            return this;
        }

        /**
         * Splits each update over up to {@code threads} threads (the calling one and daemon threads the EMA owns until
         * {@link EmaModel#close()}), at least 16,384 elements each; the result is the same for any number. Default 1;
         * at most the JVM's {@code Runtime.availableProcessors()}, which uses every core. Applies to shadows in host
         * memory ({@link ShadowPlacement}); on a device the engine decides.
         */
        public Builder threads(int threads) {
            int cores = Runtime.getRuntime().availableProcessors();
            requireArgument(threads >= 1 && threads <= cores, "threads", "in [1, " + cores + "]", threads);
            this.threads = threads;
            return this;
        }

        /**
         * How an update rounds: {@link Arithmetic#FUSED} by default; {@link Arithmetic#MUL_ADD} reproduces a PyTorch
         * run of diffusion_policy's {@code EMAModel} bit for bit. Applies to shadows in host memory
         * ({@link ShadowPlacement}); on a device the engine's arithmetic rounds as it does.
         */
        public Builder arithmetic(Arithmetic arithmetic) {
            requireArgument(arithmetic != null, "arithmetic", "non-null", null);
            this.arithmetic = arithmetic;
            return this;
        }

        /**
         * Whether live weights may be read and written in place through DJL's zero-copy buffers (default true, where
         * the engine allows it). False takes the path of GPU and non-contiguous tensors on every parameter: values are
         * copied to host memory for each pass and written back with an indexed set. Applies to shadows in host
         * memory ({@link ShadowPlacement}).
         */
        public Builder zeroCopy(boolean allowed) {
            this.zeroCopy = allowed;
            return this;
        }

        /**
         * Where the shadows are kept and averaged: {@link ShadowPlacement#AUTO} by default (on the model's device for
         * a model on a GPU, in host memory otherwise).
         */
        public Builder shadowPlacement(ShadowPlacement placement) {
            requireArgument(placement != null, "shadowPlacement", "non-null", null);
            this.placement = placement;
            return this;
        }

        /**
         * Averages every {@code k}-th step with the decay of k steps compounded; {@code k >= 1}, 1 by default. Steps
         * are optimizer steps when {@link #optimizerSteps} is set, else calls of {@link EmaModel#step()}.
         */
        public Builder updateEvery(int k) {
            requireArgument(k >= 1, "updateEvery", ">= 1", k);
            this.updateEvery = k;
            return this;
        }

        /**
         * Starts tracking {@code block}: decides each parameter's rule and copies the averaged weights.
         *
         * @param block an initialized block
         */
        public EmaModel track(Block block) {
            Plan plan = plan(block);
            return new EmaModel(this, block, plan.tracked, store(plan, null));
        }

        /**
         * Resumes an EMA of {@code block} from a {@link EmaModel#snapshot() snapshot}, e.g. a checkpoint's, bit for
         * bit: the rules are decided as by {@link #track}, and every averaged parameter's shadow is read from the
         * snapshot by name.
         *
         * @param block an initialized block, holding the live weights to resume training from
         * @throws IllegalArgumentException when the snapshot's schedule is not this builder's, or its shadows are not
         *     exactly those of the averaged parameters (every difference is named)
         */
        public EmaModel resume(Block block, EmaSnapshot snapshot) {
            requireArgument(snapshot != null, "snapshot", "non-null", null);
            Plan plan = plan(block);
            snapshot.requireSchedule(schedule);
            snapshot.requireRules(rules(plan.tracked));
            return new EmaModel(this, block, plan.tracked, store(plan, snapshot));
        }

        /** The shadows of the plan's averaged parameters: copies of the live weights, or {@code snapshot}'s. */
        private ShadowStore store(Plan plan, EmaSnapshot snapshot) {
            if (plan.onDevice && snapshot == null) {
                return DeviceShadows.start(plan.averaged, plan.specs, EmaClock.start(schedule, nonFinite));
            }
            if (plan.onDevice) {
                snapshot.requireSchedule(schedule);
                snapshot.requireShadowsOf(plan.specs);
                return DeviceShadows.restore(plan.averaged, plan.specs, EmaClock.restore(schedule, nonFinite,
                        snapshot.updates(), snapshot.skippedUpdates()), snapshot);
            }
            EmaState.Builder state = EmaState.builder(schedule).nonFinite(nonFinite).threads(threads)
                    .arithmetic(arithmetic);
            LiveTensors live = plan.hostLive();
            if (snapshot != null) {
                return new HostShadows(state.restore(plan.specs, snapshot), live);
            }
            try {
                return new HostShadows(state.start(plan.specs, live), live);
            } finally {
                live.discardCopies();
            }
        }

        /**
         * The parameters' rules and the averaged ones, and whether their shadows go on the model's device.
         *
         * @param onDevice {@link ShadowPlacement#MODEL_DEVICE}, or {@link ShadowPlacement#AUTO} with an averaged
         *     parameter on a GPU; never with nothing to average
         */
        private record Plan(List<Tracked> tracked, List<TensorSpec> specs, List<Parameter> averaged,
                boolean onDevice, boolean zeroCopy) {
            LiveTensors hostLive() {
                LiveTensors live = new LiveTensors(averaged, zeroCopy);
                if (!live.allZeroCopy()) {
                    LOG.info("some parameters are not contiguous CPU tensors; their EMA updates copy the values");
                }
                return live;
            }
        }

        private Plan plan(Block block) {
            requireArgument(block != null, "block", "non-null", null);
            requireState(block.isInitialized(), "the block must be initialized before tracking it"
                    + " (call trainer.initialize(shape) or block.initialize(...) first)");
            Map<Parameter, Block> owners = new IdentityHashMap<>();
            collectOwners(block, owners);
            List<Tracked> tracked = new ArrayList<>();
            List<TensorSpec> specs = new ArrayList<>();
            List<Parameter> averagedParameters = new ArrayList<>();
            for (Pair<String, Parameter> p : block.getParameters()) {
                Parameter parameter = p.getValue();
                Parameter.Type type = parameter.getType();
                boolean statistic = type == Parameter.Type.RUNNING_MEAN || type == Parameter.Type.RUNNING_VAR;
                ParameterInfo info = new ParameterInfo(p.getKey(), parameter.requiresGradient() && !statistic,
                        owners.get(parameter) instanceof BatchNorm, statistic);
                ParameterPolicy.Decision decision = policy.decide(info);
                NDArray array = parameter.getArray();
                tracked.add(new Tracked(p.getKey(), parameter, array.getShape().toString(),
                        array.getDataType().toString(), decision.rule(), decision.reason(),
                        parameter.requiresGradient()));
                if (decision.rule() == ParameterRule.AVERAGE) {
                    specs.add(new TensorSpec(p.getKey(), array.getShape().getShape(),
                            LiveTensors.formatOf(parameter)));
                    averagedParameters.add(parameter);
                }
            }
            boolean onGpu = averagedParameters.stream().anyMatch(p -> p.getArray().getDevice().isGpu());
            boolean onDevice = !averagedParameters.isEmpty() && (placement == ShadowPlacement.MODEL_DEVICE
                    || placement == ShadowPlacement.AUTO && onGpu);
            return new Plan(List.copyOf(tracked), specs, averagedParameters, onDevice, zeroCopy);
        }

        private static void collectOwners(Block block, Map<Parameter, Block> owners) {
            for (Parameter parameter : block.getDirectParameters().values()) {
                owners.put(parameter, block);
            }
            for (Block child : block.getChildren().values()) {
                collectOwners(child, owners);
            }
        }
    }
}
