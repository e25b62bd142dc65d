package ema4j.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.training.optimizer.Optimizer;
import java.util.HashMap;
import java.util.Map;

/**
 * An optimizer that counts its steps and otherwise leaves everything to the optimizer it wraps.
 *
 * <p>DJL calls {@code update} once per trainable parameter in every {@code Trainer.step()}; the step count is the
 * highest number of updates any parameter has received. Give {@link #steps()} to
 * {@link EmaModel.Builder#optimizerSteps} and the EMA averages exactly once per optimizer step: a second
 * {@code ema.step()} without an optimizer step in between is ignored, and optimizer steps the EMA missed are folded
 * into the next update with a compounded decay; both are logged. Not thread-safe, like DJL's optimizers.
 */
public final class StepCountingOptimizer extends Optimizer {
    private final Optimizer delegate;
    private final Map<String, long[]> updatesByParameter = new HashMap<>();
    private long steps;

    private StepCountingOptimizer(Optimizer delegate) {
        super(new Builder());
        this.delegate = delegate;
    }

    /**
     * Wraps {@code optimizer}; pass the result to {@code DefaultTrainingConfig.optOptimizer}.
     *
     * @param optimizer the optimizer that does the work, e.g. {@code Optimizer.sgd()...build()}
     */
    public static StepCountingOptimizer wrap(Optimizer optimizer) {
        if (optimizer == null) {
            throw new IllegalArgumentException("optimizer must be non-null, was null");
        }
        return new StepCountingOptimizer(optimizer);
    }

    @Override
    public void update(String parameterId, NDArray weight, NDArray grad) {
        delegate.update(parameterId, weight, grad);
        long[] count = updatesByParameter.computeIfAbsent(parameterId, id -> new long[1]);
        count[0]++;
        if (count[0] > steps) {
            steps = count[0];
        }
    }

    /** Optimizer steps taken so far. */
    public long steps() {
        return steps;
    }

    /** The wrapped optimizer. */
    public Optimizer delegate() {
        return delegate;
    }

    private static final class Builder extends OptimizerBuilder<Builder> {
        @Override
        protected Builder self() {
            return this;
        }
    }
}
