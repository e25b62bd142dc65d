package ema4j.core.schedule;

import static ema4j.core.internal.Preconditions.requireArgument;

import java.util.Objects;

/**
 * The decay of timm's {@code ModelEmaV3} as timm's training script steps it ({@code ModelEmaV3.get_decay} in
 * huggingface/pytorch-image-models {@code timm/utils/model_ema.py}; the call in {@code train.py}).
 *
 * <p>timm's {@code train.py} increments its count of optimizer updates, {@code num_updates}, and then calls
 * {@code update(model, step=num_updates)}, so the update after {@code updatesSoFar = t} earlier ones uses
 * {@code get_decay(t + 1)}, counting from the start of training (ema4j's {@code updatesSoFar} is timm's
 * {@code num_updates} before that update). With {@code step = max(0, t - updateAfterStep)} the decay is exactly 0 while
 * {@code step <= 0}, and otherwise {@link #decay()}, or with {@link #useWarmup()}
 * {@code 1 - (1 + step / warmupGamma)^(-warmupPower)} capped at {@code decay} and then raised to {@link #minDecay()}.
 * So the first {@code updateAfterStep + 1} updates copy the weights. With the warmup this is diffusers' warmup
 * ({@link DiffusersDecay}) exactly. A loop that passes the count before incrementing it gets the decays of this
 * schedule with {@code updateAfterStep + 1}; {@code update(model)} without a step, and timm's {@code ModelEma} and
 * {@code ModelEmaV2}, use the same decay for every update: {@link DecaySchedule#constant(double)}.
 *
 * <p>timm names the warmup's step scale {@code warmup_gamma}, but divides by it as diffusers divides by
 * {@code inv_gamma}. The double operations are timm's in its order, so the decays are its float64 values, the warmup's
 * as far as Java's {@link Math#pow} and the C library's {@code pow} that Python calls agree (a million updates in each
 * of three settings gave the same decays as timm under CPython).
 *
 * <p>Non-decreasing: 0 while it copies, then {@code decay}, or a rising value clamped to {@code [minDecay, decay]}.
 * timm applies minDecay only to the warmup and does not check {@code minDecay <= decay}; this class rejects a larger
 * minDecay, so ignoring it without the warmup changes nothing. Immutable and thread-safe. Build it with
 * {@link DecaySchedule#timm()}.
 */
public final class TimmDecay implements DecaySchedule {
    private final double decay;
    private final double minDecay;
    private final long updateAfterStep;
    private final boolean useWarmup;
    private final double warmupGamma;
    private final double warmupPower;

    private TimmDecay(Builder b) {
        requireArgument(b.decay >= 0 && b.decay <= 1, "decay", "in [0, 1]", b.decay);
        requireArgument(b.minDecay >= 0 && b.minDecay <= 1, "minDecay", "in [0, 1]", b.minDecay);
        requireArgument(b.minDecay <= b.decay, "minDecay", "<= decay (" + b.decay + ")", b.minDecay);
        requireArgument(b.updateAfterStep >= 0, "updateAfterStep", ">= 0", b.updateAfterStep);
        requireArgument(b.warmupGamma > 0 && Double.isFinite(b.warmupGamma), "warmupGamma", "> 0 and finite",
                b.warmupGamma);
        requireArgument(b.warmupPower > 0 && Double.isFinite(b.warmupPower), "warmupPower", "> 0 and finite",
                b.warmupPower);
        this.decay = b.decay;
        this.minDecay = b.minDecay;
        this.updateAfterStep = b.updateAfterStep;
        this.useWarmup = b.useWarmup;
        this.warmupGamma = b.warmupGamma;
        this.warmupPower = b.warmupPower;
    }

    static Builder builder() {
        return new Builder();
    }

    @Override
    public double decayAt(long updatesSoFar) {
        requireArgument(updatesSoFar >= 0, "updatesSoFar", ">= 0", updatesSoFar);
        // get_decay(step) with step = num_updates = updatesSoFar + 1, written so that it cannot overflow
        long step = Math.max(0, updatesSoFar - updateAfterStep);
        if (step <= 0) {
            return 0.0;
        }
        if (!useWarmup) {
            return decay;
        }
        return Math.max(Math.min(Warmup.curve(step, warmupGamma, warmupPower), decay), minDecay);
    }

    /** The decay after the copying updates, or the warmup's ceiling; timm's {@code decay}, in {@code [0, 1]}. */
    public double decay() {
        return decay;
    }

    /** The warmup's floor, timm's {@code min_decay}, in {@code [0, decay]}. */
    public double minDecay() {
        return minDecay;
    }

    /** timm's {@code update_after_step}: the first {@code updateAfterStep + 1} updates copy the weights. */
    public long updateAfterStep() {
        return updateAfterStep;
    }

    /** Whether the decay follows the warmup curve (timm's {@code use_warmup}) rather than staying at decay. */
    public boolean useWarmup() {
        return useWarmup;
    }

    /** The warmup's step scale, timm's {@code warmup_gamma}, {@code > 0}; unused without the warmup. */
    public double warmupGamma() {
        return warmupGamma;
    }

    /** The warmup's exponent, timm's {@code warmup_power}, {@code > 0}; unused without the warmup. */
    public double warmupPower() {
        return warmupPower;
    }

    /** A builder holding this schedule's values, to derive a variant. */
    public Builder toBuilder() {
        return new Builder().decay(decay).minDecay(minDecay).updateAfterStep(updateAfterStep).useWarmup(useWarmup)
                .warmupGamma(warmupGamma).warmupPower(warmupPower);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TimmDecay t && t.decay == decay && t.minDecay == minDecay
                && t.updateAfterStep == updateAfterStep && t.useWarmup == useWarmup && t.warmupGamma == warmupGamma
                && t.warmupPower == warmupPower;
    }

    @Override
    public int hashCode() {
        return Objects.hash(decay, minDecay, updateAfterStep, useWarmup, warmupGamma, warmupPower);
    }

    @Override
    public String toString() {
        return "TimmDecay{decay=" + decay + ", minDecay=" + minDecay + ", updateAfterStep=" + updateAfterStep
                + ", useWarmup=" + useWarmup + ", warmupGamma=" + warmupGamma + ", warmupPower=" + warmupPower + "}";
    }

    /**
     * Collects the values under timm's own names; {@link #build()} validates them all. Defaults are timm's: decay
     * 0.9999, minDecay 0, updateAfterStep 0, no warmup, warmupGamma 1, warmupPower 2/3.
     */
    public static final class Builder {
        private double decay = 0.9999;
        private double minDecay = 0.0;
        private long updateAfterStep = 0;
        private boolean useWarmup = false;
        private double warmupGamma = 1.0;
        private double warmupPower = 2.0 / 3.0;

        private Builder() {}

        /** The decay after the copying updates, or the warmup's ceiling; in {@code [minDecay, 1]}. */
        public Builder decay(double value) {
            this.decay = value;
            return this;
        }

        /** The warmup's floor; in {@code [0, decay]}. */
        public Builder minDecay(double value) {
            this.minDecay = value;
            return this;
        }

        /** Updates that copy beyond the first; {@code >= 0}. */
        public Builder updateAfterStep(long value) {
            this.updateAfterStep = value;
            return this;
        }

        /** Follow the warmup curve instead of using decay from the first averaging update on. */
        public Builder useWarmup(boolean value) {
            this.useWarmup = value;
            return this;
        }

        /** The warmup's step scale; {@code > 0}. */
        public Builder warmupGamma(double value) {
            this.warmupGamma = value;
            return this;
        }

        /** The warmup's exponent; {@code > 0}. */
        public Builder warmupPower(double value) {
            this.warmupPower = value;
            return this;
        }

        /** Validates every value and returns the schedule. */
        public TimmDecay build() {
            return new TimmDecay(this);
        }
    }
}
