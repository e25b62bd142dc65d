package ema4j.core.schedule;

/**
 * How fast the average forgets: the decay {@code d} of the update {@code ema = d * ema + (1 - d) * weights}.
 *
 * <p>Every schedule is immutable and thread-safe, and its decay never decreases as updates accumulate.
 * {@code updatesSoFar} counts the updates applied before the one being computed (0 for the first update).
 *
 * <p>The Python EMA tools count their steps differently; each has the kind that gives its decays update for update:
 * <ul>
 *   <li>diffusion_policy's {@code EMAModel} (and diffusers up to 0.11): {@link #warmup()};
 *   <li>diffusers' {@code EMAModel}, 0.12 on: {@link #diffusers()};
 *   <li>timm's {@code ModelEmaV3} stepped by timm's {@code train.py}: {@link #timm()}; {@code ModelEma},
 *       {@code ModelEmaV2} and {@code ModelEmaV3} without a step: {@link #constant(double)};
 *   <li>torch-ema's {@code ExponentialMovingAverage}: {@link #ramp(double)}, or {@link #constant(double)} with
 *       {@code use_num_updates=False};
 *   <li>EDM2's power-function EMA: {@link #powerFunction(double)}.
 * </ul>
 * Each kind's javadoc says which of the tool's counters {@code updatesSoFar} is, so a run resumes with that count.
 */
public sealed interface DecaySchedule permits Warmup, Constant, Ramp, PowerFunction, DiffusersDecay, TimmDecay {

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

    /**
     * diffusion_policy's {@code EMAModel} decay: the first {@code updateAfterStep + 2} updates copy,
     * then {@code 1 - (1 + step / invGamma)^(-power)} clamped. Defaults in {@link Warmup.Builder}.
     */
    static Warmup.Builder warmup() {
        return Warmup.builder();
    }

    /**
     * diffusers' {@code EMAModel} decay (0.12 on): the first {@code updateAfterStep + 1} updates copy, then the ramp
     * {@code (1 + step) / (10 + step)} or, with {@code useEmaWarmup}, the warmup curve, clamped to
     * {@code [minDecay, decay]}. Defaults (diffusers') in {@link DiffusersDecay.Builder}.
     */
    static DiffusersDecay.Builder diffusers() {
        return DiffusersDecay.builder();
    }

    /**
     * timm's {@code ModelEmaV3} decay as timm's {@code train.py} steps it: the first {@code updateAfterStep + 1}
     * updates copy, then {@code decay} or, with {@code useWarmup}, the warmup curve clamped to
     * {@code [minDecay, decay]}. Defaults (timm's) in {@link TimmDecay.Builder}.
     */
    static TimmDecay.Builder timm() {
        return TimmDecay.builder();
    }

    /** The same decay for every update. */
    static Constant constant(double decay) {
        return new Constant(decay);
    }

    /**
     * torch-ema's {@code min(maxDecay, (1 + n) / (10 + n))}, {@code n} counting this update, so no update copies; the
     * rule of TensorFlow's {@code ExponentialMovingAverage(num_updates=...)} as well, which computes it in float32.
     */
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

    /** A warmup preset by name: {@code long} or {@code short}. */
    static Warmup preset(String name) {
        return Preset.named(name).schedule();
    }
}
