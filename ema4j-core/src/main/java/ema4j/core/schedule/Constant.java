package ema4j.core.schedule;

import static ema4j.core.internal.Preconditions.requireArgument;

/**
 * The same decay for every update, from the first one on (the shadow starts as a copy of the weights).
 *
 * @param decay in {@code [0, 1]}: 0 copies the weights, 1 freezes the average
 */
public record Constant(double decay) implements DecaySchedule {
    /** Validates the decay. */
    public Constant {
        requireArgument(decay >= 0 && decay <= 1, "decay", "in [0, 1]", decay);
    }

    @Override
    public double decayAt(long updatesSoFar) {
        requireArgument(updatesSoFar >= 0, "updatesSoFar", ">= 0", updatesSoFar);
        return decay;
    }
}
