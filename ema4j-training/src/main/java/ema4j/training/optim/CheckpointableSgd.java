package ema4j.training.optim;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.tracker.ParameterTracker;
import java.util.List;

/**
 * Stochastic gradient descent with optional momentum, bit-identical to DJL's {@code Optimizer.sgd()} and with its
 * state checkpointable by parameter name.
 *
 * <p>Without momentum: {@code weight -= lr * (grad + wd * weight)}. With momentum (the single slot
 * {@code "momentum"}): {@code state = momentum * state + lr * (grad + wd * weight); weight -= state}, computed by the
 * same native kernel ({@code NDArrayEx.sgdUpdate}) DJL's {@code Sgd} calls. See {@link CheckpointableOptimizer} for the
 * lifecycle and the state's contract.
 */
public final class CheckpointableSgd extends CheckpointableOptimizer {
    private final float momentum;

    private CheckpointableSgd(Builder builder) {
        super(builder, builder.momentum != 0f ? List.of("momentum") : List.of());
        this.momentum = builder.momentum;
    }

    /** A builder with no momentum; {@link Builder#setLearningRateTracker} is required. */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    void apply(NDArray weight, NDArray grad, NDArray[] slots, int t, float learningRate) {
        NDList inputs = momentum != 0f ? new NDList(weight, grad, slots[0]) : new NDList(weight, grad);
        weight.getNDArrayInternal().sgdUpdate(inputs, new NDList(weight), learningRate, getWeightDecay(), rescaleGrad,
                clipGrad, momentum, true);
    }

    @Override
    String ownHyperParameters() {
        return "momentum=" + momentum;
    }

    /** Builds a {@link CheckpointableSgd}; setters mirror DJL's {@code Sgd.Builder} and validate their argument. */
    public static final class Builder extends CheckpointableOptimizer.Builder<Builder> {
        private float momentum;

        private Builder() {
            super(null);
        }

        /**
         * Sets the learning-rate schedule; required. It is asked for the rate at update {@code t}, 1-based.
         *
         * @throws IllegalArgumentException if null
         */
        public Builder setLearningRateTracker(ParameterTracker learningRateTracker) {
            setTracker("learningRateTracker", learningRateTracker);
            return this;
        }

        /**
         * Sets the momentum; 0 (the default) means plain SGD with no state arrays.
         *
         * @throws IllegalArgumentException unless in {@code [0, 1)}
         */
        public Builder optMomentum(float momentum) {
            requireArgument(momentum >= 0 && momentum < 1, "momentum", "in [0, 1)", momentum);
            this.momentum = momentum;
            return this;
        }

        /**
         * Builds the optimizer.
         *
         * @throws IllegalArgumentException if no learning-rate tracker was set
         */
        public CheckpointableSgd build() {
            requireArgument(learningRateTracker != null, "learningRateTracker", "set", null);
            return new CheckpointableSgd(this);
        }

        /** This builder, for DJL's generic setters. */
        @Override
        protected Builder self() {
            return this;
        }
    }
}
