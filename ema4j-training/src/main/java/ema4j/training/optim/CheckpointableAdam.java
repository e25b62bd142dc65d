package ema4j.training.optim;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.training.tracker.ParameterTracker;
import ai.djl.training.tracker.Tracker;
import java.util.List;

/**
 * Adam (Kingma &amp; Ba, <a href="https://arxiv.org/abs/1412.6980">arXiv:1412.6980</a>), bit-identical to DJL's
 * {@code Optimizer.adam()} and with its state checkpointable by parameter name.
 *
 * <p>Slots {@code "mean"} and {@code "variance"} are the first and second moment estimates m and v:
 * {@code m = beta1 * m + (1 - beta1) * g; v = beta2 * v + (1 - beta2) * g^2;
 * weight -= lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)}, with {@code g = grad + wd * weight},
 * computed by the same native kernel ({@code NDArrayEx.adamUpdate}) DJL's {@code Adam} calls. See
 * {@link CheckpointableOptimizer} for the lifecycle and the state's contract.
 */
public final class CheckpointableAdam extends CheckpointableOptimizer {
    private final float beta1;
    private final float beta2;
    private final float epsilon;

    private CheckpointableAdam(Builder builder) {
        super(builder, List.of("mean", "variance"));
        this.beta1 = builder.beta1;
        this.beta2 = builder.beta2;
        this.epsilon = builder.epsilon;
    }

    /** A builder with DJL's defaults: learning rate fixed at 0.001, beta1 0.9, beta2 0.999, epsilon 1e-8. */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    void apply(NDArray weight, NDArray grad, NDArray[] slots, int t, float learningRate) {
        double coef1 = 1.0 - Math.pow(beta1, t);
        double coef2 = 1.0 - Math.pow(beta2, t);
        float biasCorrectedRate = (float) (learningRate * Math.sqrt(coef2) / coef1);
        if (!Float.isFinite(biasCorrectedRate)) {
            throw new IllegalArgumentException("bias-corrected learning rate at update " + t
                    + " must be finite, was " + biasCorrectedRate + " (tracker gave " + learningRate + ")");
        }
        weight.getNDArrayInternal().adamUpdate(new NDList(weight, grad, slots[0], slots[1]), new NDList(weight),
                learningRate, biasCorrectedRate, getWeightDecay(), rescaleGrad, clipGrad, beta1, beta2, epsilon,
                true, false);
    }

    @Override
    String ownHyperParameters() {
        return "beta1=" + beta1 + ", beta2=" + beta2 + ", epsilon=" + epsilon;
    }

    /** Builds a {@link CheckpointableAdam}; setters mirror DJL's {@code Adam.Builder} and validate their argument. */
    public static final class Builder extends CheckpointableOptimizer.Builder<Builder> {
        private float beta1 = 0.9f;
        private float beta2 = 0.999f;
        private float epsilon = 1e-8f;

        private Builder() {
            super(Tracker.fixed(0.001f));
        }

        /**
         * Sets the learning-rate schedule; default fixed at 0.001. It is asked for the rate at update {@code t},
         * 1-based.
         *
         * @throws IllegalArgumentException if null
         */
        public Builder optLearningRateTracker(ParameterTracker learningRateTracker) {
            setTracker("learningRateTracker", learningRateTracker);
            return this;
        }

        /**
         * Sets the decay of the first moment estimate; default 0.9.
         *
         * @throws IllegalArgumentException unless in {@code [0, 1)}
         */
        public Builder optBeta1(float beta1) {
            requireArgument(beta1 >= 0 && beta1 < 1, "beta1", "in [0, 1)", beta1);
            this.beta1 = beta1;
            return this;
        }

        /**
         * Sets the decay of the second moment estimate; default 0.999.
         *
         * @throws IllegalArgumentException unless in {@code [0, 1)}
         */
        public Builder optBeta2(float beta2) {
            requireArgument(beta2 >= 0 && beta2 < 1, "beta2", "in [0, 1)", beta2);
            this.beta2 = beta2;
            return this;
        }

        /**
         * Sets the term added to {@code sqrt(v)} for numerical stability; default 1e-8.
         *
         * @throws IllegalArgumentException unless finite and {@code > 0}
         */
        public Builder optEpsilon(float epsilon) {
            requireArgument(epsilon > 0 && epsilon < Float.POSITIVE_INFINITY, "epsilon", "finite and > 0", epsilon);
            this.epsilon = epsilon;
            return this;
        }

        /** Builds the optimizer. */
        public CheckpointableAdam build() {
            return new CheckpointableAdam(this);
        }

        /** This builder, for DJL's generic setters. */
        @Override
        protected Builder self() {
            return this;
        }
    }
}
