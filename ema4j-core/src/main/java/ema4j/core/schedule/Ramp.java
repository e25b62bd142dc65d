package ema4j.core.schedule;

import static ema4j.core.internal.Preconditions.requireArgument;

/**
 * torch-ema's ramp ({@code ExponentialMovingAverage(parameters, decay, use_num_updates=True)}, fadel/pytorch_ema
 * {@code torch_ema/ema.py}, {@code update}): {@code min(maxDecay, (1 + n) / (10 + n))} with {@code n} counted as
 * torch-ema counts it.
 *
 * <p>torch-ema increments its counter {@code num_updates} before computing the decay, so ema4j's {@code updatesSoFar}
 * is the {@code num_updates} its state dict saves, {@code n = updatesSoFar + 1}, and the first update uses 2/11: no
 * update copies. The decays are torch-ema's float64 values exactly while {@code updatesSoFar < 2^53 - 10} (Python
 * divides the two integers exactly rounded, as one double division of exact operands does). With
 * {@code use_num_updates=False} torch-ema uses {@link Constant}. TensorFlow's {@code ExponentialMovingAverage} has the
 * same rule with the caller's {@code num_updates}, computed in float32, so it matches only to float32 rounding.
 *
 * <p>Non-decreasing. Immutable and thread-safe.
 *
 * @param maxDecay the decay the ramp rises to, torch-ema's {@code decay}, in {@code [0, 1]}
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
