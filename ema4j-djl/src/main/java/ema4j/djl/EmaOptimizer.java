package ema4j.djl;

import static ema4j.core.internal.Preconditions.requireArgument;
import static ema4j.core.internal.Preconditions.requireState;

import ai.djl.ndarray.NDArray;
import ai.djl.nn.Parameter;
import ai.djl.training.optimizer.Optimizer;
import ai.djl.util.Pair;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;

/**
 * An optimizer that steps an EMA inside {@code trainer.step()}, right after it has updated the last trainable
 * parameter: with {@code EasyTrain.fit}, which offers no event after the optimizer step, the EMA averages the
 * post-step weights of every step, as {@code ema.step()} after {@code trainer.step()} does in a hand-written loop, bit
 * for bit. Wrap the optimizer, initialize the trainer, then {@link #attach} the EMA of its block:
 * <pre>{@code
 * EmaOptimizer optimizer = EmaOptimizer.wrap(Optimizer.adam().build());
 * Trainer trainer = model.newTrainer(new DefaultTrainingConfig(loss).optOptimizer(optimizer));
 * trainer.initialize(inputShape);
 * EmaModel ema = optimizer.attach(EmaModel.track(model.getBlock(), schedule));
 * EasyTrain.fit(trainer, epochs, train, validation);
 * }</pre>
 *
 * <p>DJL's trainer updates every parameter that requires a gradient once per step; a step ends with the update of the
 * last of them (counted anew at every step, so freezing and unfreezing are followed). Everything else is left to the
 * wrapped optimizer. Not thread-safe, like DJL's optimizers.
 */
public final class EmaOptimizer extends Optimizer {
    private final Optimizer delegate;
    private final Set<String> updatedThisStep = new HashSet<>();
    private final Map<String, long[]> updatesByParameter = new HashMap<>();
    private long steps;
    private EmaModel ema;
    private int trainable;

    private EmaOptimizer(Optimizer delegate) {
        super(new Builder());
        this.delegate = delegate;
    }

    /**
     * Wraps {@code optimizer}; pass the result to {@code DefaultTrainingConfig.optOptimizer}.
     *
     * @param optimizer the optimizer that does the work, e.g. {@code Optimizer.adam().build()}
     */
    public static EmaOptimizer wrap(Optimizer optimizer) {
        requireArgument(optimizer != null, "optimizer", "non-null", null);
        return new EmaOptimizer(optimizer);
    }

    /**
     * Steps {@code ema} at the end of every optimizer step from now on; returns it.
     *
     * @param ema the EMA of the block this optimizer trains
     * @throws IllegalStateException when an EMA is attached already
     */
    public EmaModel attach(EmaModel ema) {
        requireArgument(ema != null, "ema", "non-null", null);
        requireState(this.ema == null, "an EMA is attached to this optimizer already; wrap another optimizer for a"
                + " second EMA, or step it by hand after trainer.step()");
        this.ema = ema;
        return ema;
    }

    /** The attached EMA, or null before {@link #attach}. */
    public EmaModel ema() {
        return ema;
    }

    @Override
    public void update(String parameterId, NDArray weight, NDArray grad) {
        if (ema != null && updatedThisStep.contains(parameterId)) {
            // a new step began before as many parameters as the block trains were updated: the previous step is
            // over, and its weights are still untouched by this one
            endStep();
        }
        if (ema != null && updatedThisStep.isEmpty()) {
            trainable = trainableParameters();
        }
        delegate.update(parameterId, weight, grad);
        long[] count = updatesByParameter.computeIfAbsent(parameterId, id -> new long[1]);
        steps = Math.max(steps, ++count[0]);
        if (ema != null && updatedThisStep.add(parameterId) && updatedThisStep.size() >= trainable) {
            endStep();
        }
    }

    private void endStep() {
        updatedThisStep.clear();
        ema.step();
    }

    private int trainableParameters() {
        int count = 0;
        for (Pair<String, Parameter> p : ema.block().getParameters()) {
            if (p.getValue().requiresGradient()) {
                count++;
            }
        }
        return count;
    }

    /**
     * Optimizer steps taken so far, attached EMA or not: the highest number of updates any parameter has received.
     * Give it to {@link EmaModel.Builder#optimizerSteps} to have an EMA stepped by hand after {@code trainer.step()}
     * average exactly once per optimizer step: a second {@code ema.step()} without an optimizer step in between is
     * ignored, and steps the EMA missed are folded into its next update with a compounded decay; both are logged.
     */
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
