package ema4j.core.schedule;

import static ema4j.core.internal.Preconditions.requireArgument;

/**
 * TensorFlow's {@code ExponentialMovingAverage(num_updates=...)} and torch-ema's {@code use_num_updates} ramp:
 * {@code min(maxDecay, (1 + n) / (10 + n))} with {@code n} counted as torch-ema counts it, after incrementing, so
 * {@code n = updatesSoFar + 1} and the first update uses {@code 2/11}.
 *
 * @param maxDecay the decay the ramp rises to, in {@code [0, 1]}
 */
public record Ramp(double maxDecay) implements DecaySchedule {
    /** Validates the ceiling. */
    public Ramp {
        requireArgument(maxDecay >= 0 && maxDecay <= 1, "maxDecay", "in [0, 1]", maxDecay);
    }

    @Override
    public double decayAt(long updatesSoFar) {
        requireArgument(updatesSoFar >= 0, "updatesSoFar", ">= 0", updatesSoFar);
        double n = updatesSoFar + 1.0;
        return Math.min(maxDecay, (1.0 + n) / (10.0 + n));
    }
}
