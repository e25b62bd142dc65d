package ema4j.core.schedule;

import static ema4j.core.internal.Preconditions.requireArgument;

import java.util.Objects;

/**
 * The decay of diffusers' {@code EMAModel} since diffusers 0.12 ({@code EMAModel.step} and {@code EMAModel.get_decay},
 * huggingface/diffusers {@code src/diffusers/training_utils.py}), for a training script that moves from diffusers.
 *
 * <p>diffusers increments its counter {@code optimization_step} before it computes the decay, so the update after
 * {@code updatesSoFar = t} earlier ones uses {@code get_decay(t + 1)}. ema4j's {@code updatesSoFar} is therefore the
 * {@code optimization_step} that a diffusers state dict saves, and a diffusers run resumes here with that count. With
 * {@code step = max(0, t - updateAfterStep)} the decay is exactly 0 while {@code step <= 0} (minDecay does not apply
 * there), and otherwise {@code (1 + step) / (10 + step)}, or with {@link #useEmaWarmup()}
 * {@code 1 - (1 + step / invGamma)^(-power)}, first capped at {@link #decay()} and then raised to {@link #minDecay()}.
 * So the first {@code updateAfterStep + 1} updates copy the weights (diffusion_policy's {@link Warmup}, which counts
 * before incrementing, copies one more), and with the defaults the second update uses 2/11.
 *
 * <p>The double operations are diffusers' in its order, so the decays are its float64 values: exactly for the ramp
 * while {@code updatesSoFar < 2^53 - 10} (Python divides the two integers exactly rounded, as one double division of
 * exact operands does), and for the warmup as far as Java's {@link Math#pow} and the C library's {@code pow} that
 * Python calls agree (a million updates in each of six settings gave the same decays as diffusers under CPython).
 *
 * <p>Non-decreasing: 0 while it copies, then a rising value clamped to {@code [minDecay, decay]}. diffusers does not
 * check {@code minDecay <= decay} (a larger minDecay simply wins); this class rejects it. Immutable and thread-safe.
 * Build it with {@link DecaySchedule#diffusers()}.
 */
public final class DiffusersDecay implements DecaySchedule {
    private final double decay;
    private final double minDecay;
    private final long updateAfterStep;
    private final boolean useEmaWarmup;
    private final double invGamma;
    private final double power;

    private DiffusersDecay(Builder b) {
        requireArgument(b.decay >= 0 && b.decay <= 1, "decay", "in [0, 1]", b.decay);
        requireArgument(b.minDecay >= 0 && b.minDecay <= 1, "minDecay", "in [0, 1]", b.minDecay);
        requireArgument(b.minDecay <= b.decay, "minDecay", "<= decay (" + b.decay + ")", b.minDecay);
        requireArgument(b.updateAfterStep >= 0, "updateAfterStep", ">= 0", b.updateAfterStep);
        requireArgument(b.invGamma > 0 && Double.isFinite(b.invGamma), "invGamma", "> 0 and finite", b.invGamma);
        requireArgument(b.power > 0 && Double.isFinite(b.power), "power", "> 0 and finite", b.power);
        this.decay = b.decay;
        this.minDecay = b.minDecay;
        this.updateAfterStep = b.updateAfterStep;
        this.useEmaWarmup = b.useEmaWarmup;
        this.invGamma = b.invGamma;
        this.power = b.power;
    }

    static Builder builder() {
        return new Builder();
    }

    @Override
    public double decayAt(long updatesSoFar) {
        requireArgument(updatesSoFar >= 0, "updatesSoFar", ">= 0", updatesSoFar);
        // get_decay(optimization_step) with optimization_step = updatesSoFar + 1, written so that it cannot overflow
        long step = Math.max(0, updatesSoFar - updateAfterStep);
        if (step <= 0) {
            return 0.0;
        }
        double value = useEmaWarmup ? Warmup.curve(step, invGamma, power) : (1.0 + step) / (10.0 + step);
        return Math.max(Math.min(value, decay), minDecay);
    }

    /** The ceiling, diffusers' {@code decay}, in {@code [minDecay, 1]}. */
    public double decay() {
        return decay;
    }

    /** The floor once averaging has started, diffusers' {@code min_decay}, in {@code [0, decay]}. */
    public double minDecay() {
        return minDecay;
    }

    /** diffusers' {@code update_after_step}: the first {@code updateAfterStep + 1} updates copy the weights. */
    public long updateAfterStep() {
        return updateAfterStep;
    }

    /** Whether the decay follows the warmup curve (diffusers' {@code use_ema_warmup}) rather than the ramp. */
    public boolean useEmaWarmup() {
        return useEmaWarmup;
    }

    /** The warmup's step scale, diffusers' {@code inv_gamma}, {@code > 0}; unused without the warmup. */
    public double invGamma() {
        return invGamma;
    }

    /** The warmup's exponent, diffusers' {@code power}, {@code > 0}; unused without the warmup. */
    public double power() {
        return power;
    }

    /** A builder holding this schedule's values, to derive a variant. */
    public Builder toBuilder() {
        return new Builder().decay(decay).minDecay(minDecay).updateAfterStep(updateAfterStep)
                .useEmaWarmup(useEmaWarmup).invGamma(invGamma).power(power);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof DiffusersDecay d && d.decay == decay && d.minDecay == minDecay
                && d.updateAfterStep == updateAfterStep && d.useEmaWarmup == useEmaWarmup && d.invGamma == invGamma
                && d.power == power;
    }

    @Override
    public int hashCode() {
        return Objects.hash(decay, minDecay, updateAfterStep, useEmaWarmup, invGamma, power);
    }

    @Override
    public String toString() {
        return "DiffusersDecay{decay=" + decay + ", minDecay=" + minDecay + ", updateAfterStep=" + updateAfterStep
                + ", useEmaWarmup=" + useEmaWarmup + ", invGamma=" + invGamma + ", power=" + power + "}";
    }

    /**
     * Collects the values under diffusers' own names; {@link #build()} validates them all. Defaults are diffusers':
     * decay 0.9999, minDecay 0, updateAfterStep 0, no warmup, invGamma 1, power 2/3.
     */
    public static final class Builder {
        private double decay = 0.9999;
        private double minDecay = 0.0;
        private long updateAfterStep = 0;
        private boolean useEmaWarmup = false;
        private double invGamma = 1.0;
        private double power = 2.0 / 3.0;

        private Builder() {}

        /** The ceiling; in {@code [minDecay, 1]}. */
        public Builder decay(double value) {
            this.decay = value;
            return this;
        }

        /** The floor once averaging has started; in {@code [0, decay]}. */
        public Builder minDecay(double value) {
            this.minDecay = value;
            return this;
        }

        /** Updates that copy beyond the first; {@code >= 0}. */
        public Builder updateAfterStep(long value) {
            this.updateAfterStep = value;
            return this;
        }

        /** Follow the warmup curve instead of the ramp {@code (1 + step) / (10 + step)}. */
        public Builder useEmaWarmup(boolean value) {
            this.useEmaWarmup = value;
            return this;
        }

        /** The warmup's step scale; {@code > 0}. */
        public Builder invGamma(double value) {
            this.invGamma = value;
            return this;
        }

        /** The warmup's exponent; {@code > 0}. */
        public Builder power(double value) {
            this.power = value;
            return this;
        }

        /** Validates every value and returns the schedule. */
        public DiffusersDecay build() {
            return new DiffusersDecay(this);
        }
    }
}
