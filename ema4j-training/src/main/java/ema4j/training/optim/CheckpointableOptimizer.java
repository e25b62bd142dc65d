package ema4j.training.optim;

import static ema4j.core.internal.Preconditions.requireArgument;
import static ema4j.core.internal.Preconditions.requireState;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.training.tracker.ParameterTracker;
import ai.djl.util.Pair;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * An optimizer whose whole state can be exported and restored by parameter name, so that training resumed from a
 * checkpoint goes on bit for bit as if it had never stopped.
 *
 * <p>DJL's {@code Sgd} and {@code Adam} keep momentum, moments and update counts in private maps keyed by
 * {@code Parameter.getId()}, a random uid that differs between runs. The subclasses keep the same state keyed by the
 * name the parameter has in {@code Block.getParameters()} (e.g. {@code "01Conv2d_weight"}), and call the same native
 * kernels with the same arguments and the same learning-rate tracker calls, so an uninterrupted run is bit-identical
 * to one with DJL's optimizer.
 *
 * <p>Lifecycle: build, pass to {@code DefaultTrainingConfig.optOptimizer}, {@code trainer.initialize(...)}, then
 * {@link #bind(Block)}; to resume, load the weights, then {@link #restore(Map, Map)}. State arrays live on the
 * weight's {@code NDManager} and close with the model. One device per parameter (DJL's multi-device mirrors are not
 * supported); not thread-safe, like DJL's optimizers.
 */
public abstract sealed class CheckpointableOptimizer extends Optimizer
        permits CheckpointableSgd, CheckpointableAdam {
    private final ParameterTracker learningRateTracker;
    private final int beginNumUpdate;
    private final List<String> slotNames;
    private final Map<String, ParameterState> statesById = new HashMap<>();
    private final Map<String, ParameterState> statesByName = new LinkedHashMap<>();
    private boolean bound;
    private long steps;

    CheckpointableOptimizer(Builder<?> builder, List<String> slotNames) {
        super(builder);
        this.learningRateTracker = builder.learningRateTracker;
        this.beginNumUpdate = builder.beginNumUpdate;
        this.slotNames = List.copyOf(slotNames);
    }

    /**
     * Learns the name of every parameter of {@code block}; call once, after {@code trainer.initialize(...)} and before
     * the first {@code trainer.step()}.
     *
     * @param block the model's block, whose {@code getParameters()} names become the keys of the exported state
     * @throws IllegalStateException if this optimizer is already bound
     */
    public void bind(Block block) {
        requireArgument(block != null, "block", "non-null", null);
        requireState(!bound, "this optimizer is already bound to a block; build a new one for another block");
        for (Pair<String, Parameter> named : block.getParameters()) {
            ParameterState state = new ParameterState(named.getKey(), named.getValue());
            statesById.put(named.getValue().getId(), state);
            statesByName.put(named.getKey(), state);
        }
        bound = true;
    }

    /**
     * Applies one update to one parameter; DJL's {@code Trainer.step()} calls this once per trainable parameter.
     *
     * <p>The learning-rate tracker and Adam's bias correction see {@code t = beginNumUpdate + steps()}, counted after
     * this update, exactly as DJL's {@code Optimizer.updateCount} does. Allocates nothing proportional to the model
     * after the first update of each parameter.
     *
     * @throws IllegalStateException if {@code parameterId} belongs to no parameter of the bound block
     */
    @Override
    public final void update(String parameterId, NDArray weight, NDArray grad) {
        ParameterState state = statesById.get(parameterId);
        if (state == null) {
            throw new IllegalStateException("parameter " + parameterId + " is not bound: call bind(block) after"
                    + " trainer.initialize and before the first trainer.step()");
        }
        if (state.slots == null) {
            state.slots = new NDArray[slotNames.size()];
            for (int i = 0; i < state.slots.length; i++) {
                state.slots[i] = weight.zerosLike();
            }
        }
        state.updates++;
        steps = Math.max(steps, state.updates);
        int t = Math.toIntExact(beginNumUpdate + steps);
        float learningRate = learningRateTracker.getNewValue(parameterId, t);
        apply(weight, grad, state.slots, t, learningRate);
    }

    /** Runs the native kernel: updates {@code weight} and {@code slots} (ordered as {@link #slotNames()}) in place. */
    abstract void apply(NDArray weight, NDArray grad, NDArray[] slots, int t, float learningRate);

    /** The hyper-parameters only this kind of optimizer has, as {@code "name=value"} pairs for {@link #describe()}. */
    abstract String ownHyperParameters();

    /**
     * Optimizer steps taken so far: the highest number of updates any parameter has received, restored ones included;
     * one per {@code trainer.step()} even when some parameters are frozen. Give it to
     * {@code EmaModel.Builder.optimizerSteps}.
     */
    public long steps() {
        return steps;
    }

    /**
     * How many updates each parameter has received, by parameter name; parameters never updated (frozen, or
     * BatchNorm running statistics) are absent. Does not include {@code beginNumUpdate}.
     *
     * @return an unmodifiable copy in the block's parameter order
     */
    public Map<String, Long> updateCounts() {
        Map<String, Long> counts = new LinkedHashMap<>();
        for (ParameterState state : statesByName.values()) {
            if (state.updates > 0) {
                counts.put(state.name, state.updates);
            }
        }
        return Collections.unmodifiableMap(counts);
    }

    /** The names of the state arrays each updated parameter has, e.g. {@code [momentum]} or {@code [mean, variance]}. */
    public List<String> slotNames() {
        return slotNames;
    }

    /**
     * Every state array, keyed {@code "<parameterName>/<slot>"}: one per slot of every parameter in
     * {@link #updateCounts()}.
     *
     * <p>These are the live arrays the next {@code trainer.step()} overwrites and a {@link #restore} replaces and
     * closes: copy them (e.g. {@code toFloatArray()}) before either. Each has its parameter's shape and data type.
     *
     * @return an unmodifiable map in the block's parameter order
     */
    public Map<String, NDArray> slots() {
        Map<String, NDArray> slots = new LinkedHashMap<>();
        for (ParameterState state : statesByName.values()) {
            if (state.slots != null) {
                for (int i = 0; i < slotNames.size(); i++) {
                    slots.put(slotKey(state.name, i), state.slots[i]);
                }
            }
        }
        return Collections.unmodifiableMap(slots);
    }

    /**
     * Replaces the whole state with a checkpointed one: the update counts (which also place the learning-rate
     * schedule) and every state array. Call after {@link #bind(Block)} and before the next {@code trainer.step()}.
     *
     * <p>Parameters absent from {@code updateCounts} (or with count 0) start afresh, as never updated. For every
     * parameter with a count above 0, {@code slots} must hold each slot of {@link #slotNames()} under
     * {@code "<parameterName>/<slot>"}, as little-endian float32 values in the parameter's shape, row-major; the values
     * are copied into new arrays on the weight's {@code NDManager} (the old ones are closed). Everything is validated
     * before anything changes; the buffers' positions are left as they were.
     *
     * @param updateCounts updates received by parameter name, as {@link #updateCounts()} gave them
     * @param slots the state arrays' bytes, keyed as {@link #slots()} keys them
     * @throws IllegalArgumentException for an unknown parameter name, a negative count, a missing or unexpected slot,
     *     or a slot whose byte size does not match its parameter (the message names the key and both sizes)
     * @throws IllegalStateException if called before {@link #bind(Block)}, or for a parameter that is not float32
     */
    public void restore(Map<String, Long> updateCounts, Map<String, ByteBuffer> slots) {
        requireState(bound, "restore needs the parameters' names: call bind(block) after trainer.initialize first");
        requireArgument(updateCounts != null, "updateCounts", "non-null", null);
        requireArgument(slots != null, "slots", "non-null", null);
        Set<String> unknown = new LinkedHashSet<>(updateCounts.keySet());
        unknown.removeAll(statesByName.keySet());
        requireArgument(unknown.isEmpty(), "updateCounts", "keyed by parameter names of the bound block",
                "unknown " + unknown);
        Set<String> expected = new LinkedHashSet<>();
        for (Map.Entry<String, Long> count : updateCounts.entrySet()) {
            requireArgument(count.getValue() != null && count.getValue() >= 0,
                    "updateCounts[\"" + count.getKey() + "\"]", ">= 0", count.getValue());
            if (count.getValue() > 0) {
                for (int i = 0; i < slotNames.size(); i++) {
                    expected.add(slotKey(count.getKey(), i));
                }
            }
        }
        Set<String> missing = new LinkedHashSet<>(expected);
        missing.removeAll(slots.keySet());
        Set<String> unexpected = new LinkedHashSet<>(slots.keySet());
        unexpected.removeAll(expected);
        requireArgument(missing.isEmpty() && unexpected.isEmpty(), "slots",
                "one entry \"<parameterName>/<slot>\" for each slot " + slotNames + " of every parameter with an"
                        + " update count above 0",
                "missing " + missing + ", unexpected " + unexpected);
        for (String key : expected) {
            NDArray weight = statesByName.get(parameterName(key)).parameter.getArray();
            requireState(weight.getDataType() == DataType.FLOAT32,
                    "restore supports float32 parameters only, " + parameterName(key) + " is " + weight.getDataType());
            ByteBuffer bytes = slots.get(key);
            long expectedBytes = weight.size() * Float.BYTES;
            requireArgument(bytes != null && bytes.remaining() == expectedBytes, "slots[\"" + key + "\"]",
                    expectedBytes + " bytes (float32 of shape " + weight.getShape() + ")",
                    bytes == null ? null : bytes.remaining() + " bytes");
        }

        Map<String, NDArray[]> restored = new HashMap<>();
        for (Map.Entry<String, Long> count : updateCounts.entrySet()) {
            if (count.getValue() > 0) {
                NDArray weight = statesByName.get(count.getKey()).parameter.getArray();
                NDArray[] arrays = new NDArray[slotNames.size()];
                for (int i = 0; i < arrays.length; i++) {
                    ByteBuffer bytes = slots.get(slotKey(count.getKey(), i)).duplicate()
                            .order(ByteOrder.LITTLE_ENDIAN);
                    arrays[i] = weight.getManager().create(bytes.asFloatBuffer(), weight.getShape());
                }
                restored.put(count.getKey(), arrays);
            }
        }
        steps = 0;
        for (ParameterState state : statesByName.values()) {
            if (state.slots != null) {
                for (NDArray old : state.slots) {
                    old.close();
                }
            }
            Long count = updateCounts.get(state.name);
            state.updates = count == null ? 0 : count;
            state.slots = restored.get(state.name);
            steps = Math.max(steps, state.updates);
        }
    }

    /**
     * Every hyper-parameter, e.g. {@code CheckpointableSgd{learningRateTracker=FixedTracker, momentum=0.9, ...}}.
     * DJL's trackers do not print their settings, so the tracker appears by its class name.
     */
    public String describe() {
        return getClass().getSimpleName() + "{learningRateTracker=" + learningRateTracker.getClass().getSimpleName()
                + ", " + ownHyperParameters() + ", weightDecays=" + getWeightDecay() + ", rescaleGrad=" + rescaleGrad
                + ", clipGrad=" + clipGrad + ", beginNumUpdate=" + beginNumUpdate + "}";
    }

    /** Same as {@link #describe()}. */
    @Override
    public String toString() {
        return describe();
    }

    private String slotKey(String parameterName, int slot) {
        return parameterName + "/" + slotNames.get(slot);
    }

    private static String parameterName(String slotKey) {
        return slotKey.substring(0, slotKey.lastIndexOf('/'));
    }

    /** The mutable state of one parameter: its updates so far and its state arrays (null until the first update). */
    private static final class ParameterState {
        final String name;
        final Parameter parameter;
        long updates;
        NDArray[] slots;

        ParameterState(String name, Parameter parameter) {
            this.name = name;
            this.parameter = parameter;
        }
    }

    /**
     * The options every checkpointable optimizer shares: the learning-rate tracker and DJL's
     * {@code OptimizerBuilder} options, each validated as it is set.
     *
     * @param <T> the concrete builder, returned by every setter
     */
    public abstract static sealed class Builder<T extends Builder<T>> extends OptimizerBuilder<T>
            permits CheckpointableSgd.Builder, CheckpointableAdam.Builder {
        ParameterTracker learningRateTracker;
        private int beginNumUpdate;

        Builder(ParameterTracker learningRateTracker) {
            this.learningRateTracker = learningRateTracker;
        }

        /**
         * Sets the factor every gradient is multiplied by before the update, e.g. {@code 1 / batchSize}; default 1.
         *
         * @throws IllegalArgumentException unless finite and {@code > 0}
         */
        @Override
        public T setRescaleGrad(float rescaleGrad) {
            requireArgument(rescaleGrad > 0 && rescaleGrad < Float.POSITIVE_INFINITY, "rescaleGrad",
                    "finite and > 0", rescaleGrad);
            return super.setRescaleGrad(rescaleGrad);
        }

        /**
         * Sets the L2 weight decay added to the gradient ({@code grad += weightDecays * weight}); default 0.
         *
         * @throws IllegalArgumentException unless finite and {@code >= 0}
         */
        @Override
        public T optWeightDecays(float weightDecays) {
            requireArgument(weightDecays >= 0 && weightDecays < Float.POSITIVE_INFINITY, "weightDecays",
                    "finite and >= 0", weightDecays);
            return super.optWeightDecays(weightDecays);
        }

        /**
         * Sets the bound each gradient element is clipped to, {@code [-clipGrad, clipGrad]}; below 0 (the default, -1)
         * turns clipping off.
         *
         * @throws IllegalArgumentException if NaN
         */
        @Override
        public T optClipGrad(float clipGrad) {
            requireArgument(!Float.isNaN(clipGrad), "clipGrad", "a number (< 0 turns clipping off)", clipGrad);
            return super.optClipGrad(clipGrad);
        }

        /**
         * Sets the update number the learning-rate schedule starts from, as in DJL; default 0. It shifts {@code t}
         * for the tracker and Adam's bias correction, not {@link CheckpointableOptimizer#steps()}.
         *
         * @throws IllegalArgumentException unless {@code >= 0}
         */
        @Override
        public T optBeginNumUpdate(int beginNumUpdate) {
            requireArgument(beginNumUpdate >= 0, "beginNumUpdate", ">= 0", beginNumUpdate);
            this.beginNumUpdate = beginNumUpdate;
            return super.optBeginNumUpdate(beginNumUpdate);
        }

        void setTracker(String name, ParameterTracker tracker) {
            requireArgument(tracker != null, name, "non-null", null);
            this.learningRateTracker = tracker;
        }
    }
}
