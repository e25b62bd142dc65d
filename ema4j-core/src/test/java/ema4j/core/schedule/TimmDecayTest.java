package ema4j.core.schedule;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class TimmDecayTest {

    /**
     * timm's {@code ModelEmaV3.get_decay} and the loop of timm's {@code train.py} around it, written out from the
     * Python independently of the production code: {@code num_updates += 1}, then {@code update(model,
     * step=num_updates)}.
     */
    private static final class TimmTrainLoop {
        private final double decay;
        private final double minDecay;
        private final long updateAfterStep;
        private final boolean useWarmup;
        private final double warmupGamma;
        private final double warmupPower;
        private long numUpdates = 0;

        TimmTrainLoop(double decay, double minDecay, long updateAfterStep, boolean useWarmup, double warmupGamma,
                double warmupPower) {
            this.decay = decay;
            this.minDecay = minDecay;
            this.updateAfterStep = updateAfterStep;
            this.useWarmup = useWarmup;
            this.warmupGamma = warmupGamma;
            this.warmupPower = warmupPower;
        }

        double optimizerUpdate() {
            numUpdates += 1;
            return getDecay(numUpdates);
        }

        private double getDecay(long step) {
            step = Math.max(0, step - updateAfterStep - 1);
            if (step <= 0) {
                return 0.0;
            }
            if (useWarmup) {
                double d = 1 - Math.pow(1 + step / warmupGamma, -warmupPower);
                return Math.max(Math.min(d, decay), minDecay);
            }
            return decay;
        }
    }

    @Test
    void withoutWarmupTheFirstUpdateCopiesAndEveryLaterOneUsesTheDecay() {
        TimmDecay defaults = DecaySchedule.timm().build();
        assertThat(defaults.decayAt(0)).isZero();
        assertThat(defaults.decayAt(1)).isEqualTo(0.9999);
        assertThat(defaults.decayAt(2)).isEqualTo(0.9999);
        assertThat(defaults.decayAt(1_000_000)).isEqualTo(0.9999);
    }

    @Test
    void updateAfterStepCopiesThatManyMoreUpdates() {
        TimmDecay delayed = DecaySchedule.timm().decay(0.998).updateAfterStep(3).build();
        assertThat(delayed.decayAt(0)).isZero();
        assertThat(delayed.decayAt(3)).isZero();
        assertThat(delayed.decayAt(4)).isEqualTo(0.998);
    }

    @Test
    void theWarmupFollowsTheCurveFromTheSecondUpdateOnWithinItsClamp() {
        // power 2 makes the first values exact: 1 - (1 + step)^-2 at step 1, 3, 7
        TimmDecay warmup = DecaySchedule.timm().useWarmup(true).warmupPower(2).decay(0.98).minDecay(0.8).build();
        assertThat(warmup.decayAt(0)).isZero();
        assertThat(warmup.decayAt(1)).isEqualTo(0.8);        // 0.75, raised to the floor
        assertThat(warmup.decayAt(3)).isEqualTo(0.9375);
        assertThat(warmup.decayAt(7)).isEqualTo(0.98);       // 0.984375, capped
        TimmDecay slower = DecaySchedule.timm().useWarmup(true).warmupPower(2).warmupGamma(2).build();
        assertThat(slower.decayAt(2)).isEqualTo(0.75);       // step / warmupGamma = 1
        assertThat(slower.decayAt(6)).isEqualTo(0.9375);     // step / warmupGamma = 3
    }

    @Test
    void decaysEqualThoseCPythonComputesInTimmsOwnGetDecay() {
        // printed by CPython 3.11 running ModelEmaV3.get_decay from timm's model_ema.py, stepped as train.py does
        TimmDecay warmup = DecaySchedule.timm().useWarmup(true).build();
        assertThat(warmup.decayAt(1)).isEqualTo(0.3700394750525634);
        assertThat(warmup.decayAt(2)).isEqualTo(0.5192501432308638);
        assertThat(warmup.decayAt(3)).isEqualTo(0.6031497370079502);
        TimmDecay mixed = DecaySchedule.timm().useWarmup(true).updateAfterStep(3).warmupGamma(7.5).warmupPower(0.9)
                .minDecay(0.2).decay(0.9995).build();
        assertThat(mixed.decayAt(3)).isZero();
        assertThat(mixed.decayAt(4)).isEqualTo(0.2);
        assertThat(mixed.decayAt(10)).isEqualTo(0.44751061917204593);
        assertThat(mixed.decayAt(1000)).isEqualTo(0.9878157110402468);
        assertThat(mixed.decayAt(31_622)).isEqualTo(0.9994536019790385);
    }

    @ParameterizedTest
    @CsvSource({
        "0.9999, 0,   0,  false, 1,   0.6666666666666666",
        "0.9999, 0,   0,  true,  1,   0.6666666666666666",
        "0.999,  0.1, 10, true,  1,   0.75",
        "0.9995, 0.2, 3,  true,  7.5, 0.9",
    })
    void everyDecayOfAMillionUpdatesIsTimmsOwnArithmetic(double decay, double minDecay, long updateAfterStep,
            boolean useWarmup, double warmupGamma, double warmupPower) {
        TimmDecay schedule = DecaySchedule.timm().decay(decay).minDecay(minDecay).updateAfterStep(updateAfterStep)
                .useWarmup(useWarmup).warmupGamma(warmupGamma).warmupPower(warmupPower).build();
        TimmTrainLoop timm = new TimmTrainLoop(decay, minDecay, updateAfterStep, useWarmup, warmupGamma, warmupPower);
        for (long updatesSoFar = 0; updatesSoFar < 1_000_000; updatesSoFar++) {
            double expected = timm.optimizerUpdate();
            if (schedule.decayAt(updatesSoFar) != expected) {
                assertThat(schedule.decayAt(updatesSoFar)).as("after %d updates", updatesSoFar).isEqualTo(expected);
            }
        }
    }

    @Property
    void withTheWarmupItIsDiffusersWarmup(@ForAll @LongRange(max = 1000) long updateAfterStep,
            @ForAll @DoubleRange(min = 0.01, max = 5) double power,
            @ForAll @DoubleRange(min = 0.1, max = 100) double gamma,
            @ForAll @DoubleRange(min = 0, max = 0.5) double minDecay,
            @ForAll @DoubleRange(min = 0.5, max = 1) double decay,
            @ForAll @LongRange(max = 10_000_000) long t) {
        TimmDecay timm = DecaySchedule.timm().useWarmup(true).updateAfterStep(updateAfterStep).warmupPower(power)
                .warmupGamma(gamma).minDecay(minDecay).decay(decay).build();
        DiffusersDecay diffusers = DecaySchedule.diffusers().useEmaWarmup(true).updateAfterStep(updateAfterStep)
                .power(power).invGamma(gamma).minDecay(minDecay).decay(decay).build();
        assertThat(timm.decayAt(t)).isEqualTo(diffusers.decayAt(t));
    }

    @Property
    void passingTheCountBeforeIncrementingIsOneMoreUpdateAfterStep(@ForAll boolean useWarmup,
            @ForAll @LongRange(max = 1000) long updateAfterStep, @ForAll @LongRange(max = 10_000_000) long t) {
        TimmDecay asTrainPy = DecaySchedule.timm().useWarmup(useWarmup).updateAfterStep(updateAfterStep + 1).build();
        TimmTrainLoop countingLate = new TimmTrainLoop(0.9999, 0, updateAfterStep, useWarmup, 1, 2.0 / 3);
        assertThat(asTrainPy.decayAt(t)).isEqualTo(countingLate.getDecay(t));
    }

    @Property
    void theDecayNeverDecreasesAndStaysWithinItsClamp(@ForAll boolean useWarmup,
            @ForAll @DoubleRange(min = 0.01, max = 5) double power,
            @ForAll @DoubleRange(min = 0.1, max = 100) double gamma,
            @ForAll @LongRange(max = 100) long updateAfterStep, @ForAll @LongRange(max = 10_000_000) long t) {
        TimmDecay schedule = DecaySchedule.timm().useWarmup(useWarmup).warmupPower(power).warmupGamma(gamma)
                .updateAfterStep(updateAfterStep).minDecay(0.1).decay(0.99).build();
        double d = schedule.decayAt(t);
        assertThat(d == 0 || (d >= 0.1 && d <= 0.99)).as("decay %s", d).isTrue();
        assertThat(schedule.decayAt(t + 1)).isGreaterThanOrEqualTo(d);
    }

    @Test
    void theLargestCountNeitherOverflowsNorLeavesTheClamp() {
        assertThat(DecaySchedule.timm().updateAfterStep(7).build().decayAt(Long.MAX_VALUE)).isEqualTo(0.9999);
        assertThat(DecaySchedule.timm().useWarmup(true).build().decayAt(Long.MAX_VALUE)).isEqualTo(0.9999);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "decay|-0.5|decay must be in [0, 1], was -0.5",
        "decay|NaN|decay must be in [0, 1], was NaN",
        "minDecay|1.5|minDecay must be in [0, 1], was 1.5",
        "minDecay|0.99999|minDecay must be <= decay (0.9999), was 0.99999",
        "updateAfterStep|-2|updateAfterStep must be >= 0, was -2",
        "warmupGamma|-1|warmupGamma must be > 0 and finite, was -1.0",
        "warmupGamma|NaN|warmupGamma must be > 0 and finite, was NaN",
        "warmupPower|0|warmupPower must be > 0 and finite, was 0.0",
        "warmupPower|Infinity|warmupPower must be > 0 and finite, was Infinity",
    })
    void everyInvalidValueIsRejectedWithItsNameValueAndRange(String field, double value, String message) {
        TimmDecay.Builder b = DecaySchedule.timm();
        switch (field) {
            case "decay" -> b.decay(value);
            case "minDecay" -> b.minDecay(value);
            case "updateAfterStep" -> b.updateAfterStep((long) value);
            case "warmupGamma" -> b.warmupGamma(value);
            default -> b.warmupPower(value);
        }
        assertThatThrownBy(b::build).isInstanceOf(IllegalArgumentException.class).hasMessage(message);
    }

    @Test
    void aNegativeUpdateCountIsRejected() {
        assertThatThrownBy(() -> DecaySchedule.timm().build().decayAt(-1))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("updatesSoFar must be >= 0, was -1");
    }

    @Test
    void aVariantFromToBuilderKeepsEveryOtherValue() {
        TimmDecay base = DecaySchedule.timm().decay(0.999).minDecay(0.2).updateAfterStep(4).useWarmup(true)
                .warmupGamma(2).warmupPower(0.75).build();
        assertThat(base.toBuilder().build()).isEqualTo(base).hasSameHashCodeAs(base);
        assertThat(base.toBuilder().useWarmup(false).build()).isNotEqualTo(base)
                .isEqualTo(DecaySchedule.timm().decay(0.999).minDecay(0.2).updateAfterStep(4).warmupGamma(2)
                        .warmupPower(0.75).build());
    }

    @Test
    void toStringPrintsEveryHyperParameter() {
        assertThat(DecaySchedule.timm().build().toString()).isEqualTo("TimmDecay{decay=0.9999, minDecay=0.0,"
                + " updateAfterStep=0, useWarmup=false, warmupGamma=1.0, warmupPower=0.6666666666666666}");
    }
}
