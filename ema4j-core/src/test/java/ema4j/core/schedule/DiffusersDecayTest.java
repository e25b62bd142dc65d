package ema4j.core.schedule;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DiffusersDecayTest {

    /**
     * diffusers' {@code EMAModel} written out from its Python, independently of the production code: {@code step()}
     * increments {@code optimization_step} and then asks {@code get_decay} for it.
     */
    private static final class DiffusersEmaModel {
        private final double decay;
        private final double minDecay;
        private final long updateAfterStep;
        private final boolean useEmaWarmup;
        private final double invGamma;
        private final double power;
        private long optimizationStep = 0;

        DiffusersEmaModel(double decay, double minDecay, long updateAfterStep, boolean useEmaWarmup, double invGamma,
                double power) {
            this.decay = decay;
            this.minDecay = minDecay;
            this.updateAfterStep = updateAfterStep;
            this.useEmaWarmup = useEmaWarmup;
            this.invGamma = invGamma;
            this.power = power;
        }

        double step() {
            optimizationStep += 1;
            return getDecay(optimizationStep);
        }

        private double getDecay(long optimizationStep) {
            long step = Math.max(0, optimizationStep - updateAfterStep - 1);
            if (step <= 0) {
                return 0.0;
            }
            double curDecayValue;
            if (useEmaWarmup) {
                curDecayValue = 1 - Math.pow(1 + step / invGamma, -power);
            } else {
                curDecayValue = (double) (1 + step) / (double) (10 + step);
            }
            curDecayValue = Math.min(curDecayValue, decay);
            curDecayValue = Math.max(curDecayValue, minDecay);
            return curDecayValue;
        }
    }

    @Test
    void theFirstUpdateCopiesAndTheRampStartsAtTwoElevenths() {
        DiffusersDecay defaults = DecaySchedule.diffusers().build();
        assertThat(defaults.decayAt(0)).isZero();
        assertThat(defaults.decayAt(1)).isEqualTo(2.0 / 11);
        assertThat(defaults.decayAt(2)).isEqualTo(0.25);
        assertThat(defaults.decayAt(3)).isEqualTo(4.0 / 13);
        assertThat(defaults.decayAt(9)).isEqualTo(10.0 / 19);
        assertThat(defaults.decayAt(89_990)).isEqualTo(0.9999);   // 89991 / 90000 is 0.9999 exactly
        assertThat(defaults.decayAt(89_989)).isLessThan(0.9999);
    }

    @Test
    void updateAfterStepCopiesThatManyMoreUpdates() {
        DiffusersDecay delayed = DecaySchedule.diffusers().updateAfterStep(5).build();
        for (long t = 0; t <= 5; t++) {
            assertThat(delayed.decayAt(t)).as("update %d", t + 1).isZero();
        }
        assertThat(delayed.decayAt(6)).isEqualTo(2.0 / 11);
    }

    @Test
    void minDecayAppliesOnlyOnceAveragingHasStarted() {
        DiffusersDecay floored = DecaySchedule.diffusers().minDecay(0.5).build();
        assertThat(floored.decayAt(0)).isZero();
        assertThat(floored.decayAt(1)).isEqualTo(0.5);          // 2/11, raised to the floor
        assertThat(floored.decayAt(9)).isEqualTo(10.0 / 19);    // above the floor
    }

    @Test
    void theWarmupStartsOneUpdateEarlierThanDiffusionPolicys() {
        // power 2 makes the first values exact: 1 - (1 + step)^-2 at step 1, 3, 7
        DiffusersDecay warmup = DecaySchedule.diffusers().useEmaWarmup(true).power(2).build();
        assertThat(warmup.decayAt(0)).isZero();
        assertThat(warmup.decayAt(1)).isEqualTo(0.75);
        assertThat(warmup.decayAt(3)).isEqualTo(0.9375);
        assertThat(warmup.decayAt(7)).isEqualTo(0.984375);
        DiffusersDecay defaults = DecaySchedule.diffusers().useEmaWarmup(true).build();
        assertThat(defaults.decayAt(1)).isCloseTo(1 - Math.cbrt(0.25), within(1e-15));   // 1 - 2^(-2/3)
        assertThat(DecaySchedule.warmup().build().decayAt(2)).isEqualTo(defaults.decayAt(1));
    }

    @Test
    void decaysEqualThoseCPythonComputesInDiffusersOwnGetDecay() {
        // printed by CPython 3.11 running EMAModel.get_decay from diffusers' training_utils.py, stepped as step() does
        DiffusersDecay ramp = DecaySchedule.diffusers().build();
        assertThat(ramp.decayAt(1)).isEqualTo(0.18181818181818182);
        assertThat(ramp.decayAt(3)).isEqualTo(0.3076923076923077);
        assertThat(ramp.decayAt(4)).isEqualTo(0.35714285714285715);
        assertThat(ramp.decayAt(1000)).isEqualTo(0.9910891089108911);
        assertThat(ramp.decayAt(31_622)).isEqualTo(0.9997154779969651);
        DiffusersDecay warmup = DecaySchedule.diffusers().useEmaWarmup(true).build();
        assertThat(warmup.decayAt(1)).isEqualTo(0.3700394750525634);
        assertThat(warmup.decayAt(2)).isEqualTo(0.5192501432308638);
        assertThat(warmup.decayAt(3)).isEqualTo(0.6031497370079502);
        assertThat(warmup.decayAt(4)).isEqualTo(0.6580048106646605);
        assertThat(warmup.decayAt(10)).isEqualTo(0.7978199917664258);
        assertThat(warmup.decayAt(1000)).isEqualTo(0.9900066611160449);
        assertThat(warmup.decayAt(31_622)).isEqualTo(0.9990000047096224);
        DiffusersDecay short_ = DecaySchedule.diffusers().useEmaWarmup(true).power(0.75).decay(0.999).build();
        assertThat(short_.decayAt(1)).isEqualTo(0.4053964424986395);
        assertThat(short_.decayAt(10)).isEqualTo(0.8344399739238298);
        assertThat(short_.decayAt(1000)).isEqualTo(0.9943808006210502);
    }

    @ParameterizedTest
    @CsvSource({
        "0.9999, 0,   0,  false, 1,   0.6666666666666666",
        "0.9999, 0,   0,  true,  1,   0.6666666666666666",
        "0.999,  0.1, 10, true,  1,   0.75",
        "0.9995, 0.2, 3,  true,  7.5, 0.9",
        "0.99,   0.5, 2,  false, 1,   0.6666666666666666",
    })
    void everyDecayOfAMillionUpdatesIsDiffusersOwnArithmetic(double decay, double minDecay, long updateAfterStep,
            boolean useEmaWarmup, double invGamma, double power) {
        DiffusersDecay schedule = DecaySchedule.diffusers().decay(decay).minDecay(minDecay)
                .updateAfterStep(updateAfterStep).useEmaWarmup(useEmaWarmup).invGamma(invGamma).power(power).build();
        DiffusersEmaModel diffusers = new DiffusersEmaModel(decay, minDecay, updateAfterStep, useEmaWarmup, invGamma,
                power);
        for (long updatesSoFar = 0; updatesSoFar < 1_000_000; updatesSoFar++) {
            double expected = diffusers.step();
            if (schedule.decayAt(updatesSoFar) != expected) {
                assertThat(schedule.decayAt(updatesSoFar)).as("after %d updates", updatesSoFar).isEqualTo(expected);
            }
        }
    }

    @Property
    void theWarmupIsDiffusionPolicysWithOneUpdateLessDelay(
            @ForAll @LongRange(min = 1, max = 1000) long updateAfterStep,
            @ForAll @DoubleRange(min = 0.01, max = 5) double power,
            @ForAll @DoubleRange(min = 0.1, max = 100) double invGamma,
            @ForAll @DoubleRange(min = 0, max = 0.5) double minDecay,
            @ForAll @DoubleRange(min = 0.5, max = 1) double decay,
            @ForAll @LongRange(max = 10_000_000) long t) {
        DiffusersDecay diffusers = DecaySchedule.diffusers().useEmaWarmup(true).updateAfterStep(updateAfterStep)
                .power(power).invGamma(invGamma).minDecay(minDecay).decay(decay).build();
        Warmup diffusionPolicy = DecaySchedule.warmup().updateAfterStep(updateAfterStep - 1).power(power)
                .invGamma(invGamma).minDecay(minDecay).maxDecay(decay).build();
        assertThat(diffusers.decayAt(t)).isEqualTo(diffusionPolicy.decayAt(t));
    }

    @Property
    void theRampIsTorchEmasDelayedByTheCopyingUpdates(@ForAll @LongRange(max = 1000) long updateAfterStep,
            @ForAll @DoubleRange(min = 0, max = 1) double decay, @ForAll @LongRange(max = 10_000_000) long t) {
        DiffusersDecay diffusers = DecaySchedule.diffusers().updateAfterStep(updateAfterStep).decay(decay).build();
        if (t <= updateAfterStep) {
            assertThat(diffusers.decayAt(t)).isZero();
        } else {
            assertThat(diffusers.decayAt(t)).isEqualTo(DecaySchedule.ramp(decay).decayAt(t - updateAfterStep - 1));
        }
    }

    @Property
    void theDecayNeverDecreasesAndStaysWithinItsClamp(@ForAll boolean useEmaWarmup,
            @ForAll @DoubleRange(min = 0.01, max = 5) double power,
            @ForAll @DoubleRange(min = 0.1, max = 100) double invGamma,
            @ForAll @LongRange(max = 100) long updateAfterStep, @ForAll @LongRange(max = 10_000_000) long t) {
        DiffusersDecay schedule = DecaySchedule.diffusers().useEmaWarmup(useEmaWarmup).power(power).invGamma(invGamma)
                .updateAfterStep(updateAfterStep).minDecay(0.1).decay(0.99).build();
        double d = schedule.decayAt(t);
        assertThat(d == 0 || (d >= 0.1 && d <= 0.99)).as("decay %s", d).isTrue();
        assertThat(schedule.decayAt(t + 1)).isGreaterThanOrEqualTo(d);
    }

    @Test
    void theLargestCountNeitherOverflowsNorLeavesTheClamp() {
        assertThat(DecaySchedule.diffusers().updateAfterStep(7).build().decayAt(Long.MAX_VALUE)).isEqualTo(0.9999);
        assertThat(DecaySchedule.diffusers().useEmaWarmup(true).build().decayAt(Long.MAX_VALUE)).isEqualTo(0.9999);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "decay|1.5|decay must be in [0, 1], was 1.5",
        "decay|NaN|decay must be in [0, 1], was NaN",
        "minDecay|-0.1|minDecay must be in [0, 1], was -0.1",
        "minDecay|NaN|minDecay must be in [0, 1], was NaN",
        "minDecay|0.99999|minDecay must be <= decay (0.9999), was 0.99999",
        "updateAfterStep|-1|updateAfterStep must be >= 0, was -1",
        "invGamma|0|invGamma must be > 0 and finite, was 0.0",
        "invGamma|Infinity|invGamma must be > 0 and finite, was Infinity",
        "power|-0.5|power must be > 0 and finite, was -0.5",
        "power|NaN|power must be > 0 and finite, was NaN",
    })
    void everyInvalidValueIsRejectedWithItsNameValueAndRange(String field, double value, String message) {
        DiffusersDecay.Builder b = DecaySchedule.diffusers();
        switch (field) {
            case "decay" -> b.decay(value);
            case "minDecay" -> b.minDecay(value);
            case "updateAfterStep" -> b.updateAfterStep((long) value);
            case "invGamma" -> b.invGamma(value);
            default -> b.power(value);
        }
        assertThatThrownBy(b::build).isInstanceOf(IllegalArgumentException.class).hasMessage(message);
    }

    @Test
    void aNegativeUpdateCountIsRejected() {
        assertThatThrownBy(() -> DecaySchedule.diffusers().build().decayAt(-1))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("updatesSoFar must be >= 0, was -1");
    }

    @Test
    void aVariantFromToBuilderKeepsEveryOtherValue() {
        DiffusersDecay base = DecaySchedule.diffusers().decay(0.999).minDecay(0.2).updateAfterStep(4)
                .useEmaWarmup(true).invGamma(2).power(0.75).build();
        assertThat(base.toBuilder().build()).isEqualTo(base).hasSameHashCodeAs(base);
        assertThat(base.toBuilder().power(0.7).build()).isNotEqualTo(base)
                .isEqualTo(DecaySchedule.diffusers().decay(0.999).minDecay(0.2).updateAfterStep(4).useEmaWarmup(true)
                        .invGamma(2).power(0.7).build());
    }

    @Test
    void toStringPrintsEveryHyperParameter() {
        assertThat(DecaySchedule.diffusers().build().toString()).isEqualTo("DiffusersDecay{decay=0.9999, minDecay=0.0,"
                + " updateAfterStep=0, useEmaWarmup=false, invGamma=1.0, power=0.6666666666666666}");
    }
}
