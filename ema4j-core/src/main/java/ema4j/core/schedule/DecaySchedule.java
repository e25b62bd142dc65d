package ema4j.core.schedule;

/**
 * How fast the average forgets: the decay {@code d} of the update {@code ema = d * ema + (1 - d) * weights}.
 *
 * <p>Every schedule is immutable and thread-safe, and its decay never decreases as updates accumulate.
 * {@code updatesSoFar} counts the updates applied before the one being computed (0 for the first update).
 */
public sealed interface DecaySchedule permits Warmup, Constant, Ramp, PowerFunction {

    /**
     * The decay of the update that follows {@code updatesSoFar} earlier updates.
     *
     * @param updatesSoFar updates already applied, {@code >= 0}
     * @return a decay in {@code [0, 1]}
     */
    double decayAt(long updatesSoFar);

    /**
     * The decay that stands for {@code steps} consecutive updates folded into one: the product of their decays.
     * Averaging every k-th step with this decay keeps the time constant of averaging every step.
     *
     * @param updatesSoFar updates already applied, {@code >= 0}
     * @param steps how many updates the one update stands for, {@code >= 1}
     * @return the product of {@code decayAt(updatesSoFar + i)} for {@code i < steps}
     */
    default double compoundedDecay(long updatesSoFar, int steps) {
        if (steps < 1) {
            throw new IllegalArgumentException("steps must be >= 1, was " + steps);
        }
        double product = 1.0;
        for (int i = 0; i < steps && product > 0; i++) {
            product *= decayAt(updatesSoFar + i);
        }
        return product;
    }

    /**
     * The first update count whose decay reaches {@code target}, or -1 when the schedule never gets there.
     * Schedules are non-decreasing, so a binary search over the update count finds it.
     *
     * @param target a decay in {@code [0, 1]}
     */
    default long firstUpdateReaching(double target) {
        if (!(target >= 0 && target <= 1)) {
            throw new IllegalArgumentException("target must be in [0, 1], was " + target);
        }
        long high = 1;
        while (decayAt(high) < target) {
            if (high > Long.MAX_VALUE / 4) {
                return -1;
            }
            high *= 2;
        }
        long low = 0;
        if (decayAt(low) >= target) {
            return 0;
        }
        while (high - low > 1) {
            long mid = low + (high - low) / 2;
            if (decayAt(mid) >= target) {
                high = mid;
            } else {
                low = mid;
            }
        }
        return high;
    }

    /** The seed's warmup schedule with its defaults; see {@link Warmup.Builder} to change them. */
    static Warmup.Builder warmup() {
        return Warmup.builder();
    }

    /** The same decay for every update. */
    static Constant constant(double decay) {
        return new Constant(decay);
    }

    /** TensorFlow's and torch-ema's {@code min(maxDecay, (1 + n) / (10 + n))}. */
    static Ramp ramp(double maxDecay) {
        return new Ramp(maxDecay);
    }

    /**
     * EDM2's power-function EMA with exponent {@code gamma} ({@code > -1}): decay {@code (1 - 1/n)^(gamma + 1)} after
     * {@code n} steps, the first update copying (Karras et al., 2024).
     */
    static PowerFunction powerFunction(double gamma) {
        return new PowerFunction(gamma);
    }

    /** EDM2's power-function EMA of relative width {@code sigmaRel}, in {@code (0, 0.3003]} (0.05 and 0.10 in EDM2). */
    static PowerFunction powerFunctionForSigmaRel(double sigmaRel) {
        return PowerFunction.ofSigmaRel(sigmaRel);
    }

    /** The seed's preset (section 7.1) by name: {@code long} or {@code short}. */
    static Warmup preset(String name) {
        return Preset.named(name).schedule();
    }
}
