package ema4j.core.schedule;

import static ema4j.core.internal.Preconditions.requireArgument;

/**
 * diffusion_policy's warmup decay ({@code EMAModel.get_decay} in real-stanford/diffusion_policy
 * {@code diffusion_policy/model/diffusion/ema_model.py}; diffusers up to 0.11 counted the same way).
 *
 * <p>diffusion_policy computes the decay from its counter {@code optimization_step} before incrementing it, so
 * ema4j's {@code updatesSoFar} is that counter: the decay after {@code t} earlier updates is {@code get_decay(t)}. With
 * {@code step = max(0, t - updateAfterStep - 1)}, the decay is exactly 0 while {@code step <= 0} (minDecay does not
 * apply there) and otherwise {@code 1 - (1 + step / invGamma)^(-power)} clamped to {@code [minDecay, maxDecay]}. So the
 * first {@code updateAfterStep + 2} updates copy the weights. Current diffusers increments its counter first, so it
 * copies one update fewer: see {@link DiffusersDecay}. The double operations are diffusion_policy's, in its order,
 * so the decays are its float64 values as far as Java's {@link Math#pow} and the C library's agree (a million updates
 * in each of three settings gave the same decays as diffusion_policy under CPython).
 *
 * <p>Non-decreasing: 0 while it copies, then a rising curve clamped to {@code [minDecay, maxDecay]}. Immutable and
 * thread-safe. Build it with {@link DecaySchedule#warmup()}.
 */
public final class Warmup implements DecaySchedule {
    private final long updateAfterStep;
    private final double invGamma;
    private final double power;
    private final double minDecay;
    private final double maxDecay;

    private Warmup(Builder b) {
        requireArgument(b.updateAfterStep >= 0, "updateAfterStep", ">= 0", b.updateAfterStep);
        requireArgument(b.invGamma > 0 && Double.isFinite(b.invGamma), "invGamma", "> 0 and finite", b.invGamma);
        requireArgument(b.power > 0 && Double.isFinite(b.power), "power", "> 0 and finite", b.power);
        requireArgument(b.minDecay >= 0 && b.minDecay <= 1, "minDecay", "in [0, 1]", b.minDecay);
        requireArgument(b.maxDecay >= 0 && b.maxDecay <= 1, "maxDecay", "in [0, 1]", b.maxDecay);
        requireArgument(b.minDecay <= b.maxDecay, "minDecay", "<= maxDecay (" + b.maxDecay + ")", b.minDecay);
        this.updateAfterStep = b.updateAfterStep;
        this.invGamma = b.invGamma;
        this.power = b.power;
        this.minDecay = b.minDecay;
        this.maxDecay = b.maxDecay;
    }

    static Builder builder() {
        return new Builder();
    }

    @Override
    public double decayAt(long updatesSoFar) {
        requireArgument(updatesSoFar >= 0, "updatesSoFar", ">= 0", updatesSoFar);
        long step = Math.max(0, updatesSoFar - updateAfterStep - 1);
        if (step <= 0) {
            return 0.0;
        }
        return Math.max(minDecay, Math.min(curve(step, invGamma, power), maxDecay));
    }

    /**
     * crowsonkb's warmup curve {@code 1 - (1 + step / invGamma)^(-power)}, shared by diffusion_policy, diffusers and
     * timm, with the double operations in their Python order. Python's {@code **} calls the C library's {@code pow};
     * {@link Math#pow} and glibc's differ by an ulp in about one power in a thousand, which {@code 1 - pow} absorbed
     * in every decay of a million updates compared with CPython (glibc 2.36; JDK 17 and 25). {@link StrictMath#pow}
     * differs in about one in ten and showed in the decays.
     */
    static double curve(long step, double invGamma, double power) {
        return 1.0 - Math.pow(1.0 + step / invGamma, -power);
    }

    /** Updates that copy before averaging starts is {@code updateAfterStep + 2}; this is the configured delay. */
    public long updateAfterStep() {
        return updateAfterStep;
    }

    /** The step scale of the warmup, {@code > 0}. */
    public double invGamma() {
        return invGamma;
    }

    /** The warmup's exponent, {@code > 0}: 2/3 for long training, 3/4 for short. */
    public double power() {
        return power;
    }

    /** The lower clamp, applied once averaging has started. */
    public double minDecay() {
        return minDecay;
    }

    /** The upper clamp. */
    public double maxDecay() {
        return maxDecay;
    }

    /** A builder holding this schedule's values, to derive a variant. */
    public Builder toBuilder() {
        return new Builder().updateAfterStep(updateAfterStep).invGamma(invGamma).power(power)
                .minDecay(minDecay).maxDecay(maxDecay);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Warmup w && w.updateAfterStep == updateAfterStep && w.invGamma == invGamma
                && w.power == power && w.minDecay == minDecay && w.maxDecay == maxDecay;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(updateAfterStep, invGamma, power, minDecay, maxDecay);
    }

    @Override
    public String toString() {
        return "Warmup{updateAfterStep=" + updateAfterStep + ", invGamma=" + invGamma + ", power=" + power
                + ", minDecay=" + minDecay + ", maxDecay=" + maxDecay + "}";
    }

    /**
     * Collects the warmup's values; {@link #build()} validates them all. Defaults are diffusion_policy's:
     * updateAfterStep 0, invGamma 1, power 2/3, minDecay 0, maxDecay 0.9999.
     */
    public static final class Builder {
        private long updateAfterStep = 0;
        private double invGamma = 1.0;
        private double power = 2.0 / 3.0;
        private double minDecay = 0.0;
        private double maxDecay = 0.9999;

        private Builder() {}

        /** Updates to wait, on top of the two copying updates, before averaging starts; {@code >= 0}. */
        public Builder updateAfterStep(long value) {
            this.updateAfterStep = value;
            return this;
        }

        /** The step scale; {@code > 0}. */
        public Builder invGamma(double value) {
            this.invGamma = value;
            return this;
        }

        /** The exponent; {@code > 0}. */
        public Builder power(double value) {
            this.power = value;
            return this;
        }

        /** The lower clamp; in {@code [0, maxDecay]}. */
        public Builder minDecay(double value) {
            this.minDecay = value;
            return this;
        }

        /** The upper clamp; in {@code [minDecay, 1]}. */
        public Builder maxDecay(double value) {
            this.maxDecay = value;
            return this;
        }

        /** Validates every value and returns the schedule. */
        public Warmup build() {
            return new Warmup(this);
        }
    }
}
