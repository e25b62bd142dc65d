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

class WarmupTest {

    /** diffusion_policy's EMAModel formula, written out independently of the production code. */
    private static double seedDecay(long t, long after, double invGamma, double power, double min, double max) {
        long step = Math.max(0, t - after - 1);
        if (step <= 0) {
            return 0;
        }
        return Math.min(max, Math.max(min, 1 - Math.pow(1 + step / invGamma, -power)));
    }

    /**
     * diffusion_policy's {@code EMAModel}, written out from its Python independently of the production code:
     * {@code step()} asks {@code get_decay(optimization_step)} and increments the counter afterwards.
     */
    private static final class DiffusionPolicyEmaModel {
        private final long updateAfterStep;
        private final double invGamma;
        private final double power;
        private final double minValue;
        private final double maxValue;
        private long optimizationStep = 0;

        DiffusionPolicyEmaModel(long updateAfterStep, double invGamma, double power, double minValue, double maxValue) {
            this.updateAfterStep = updateAfterStep;
            this.invGamma = invGamma;
            this.power = power;
            this.minValue = minValue;
            this.maxValue = maxValue;
        }

        double step() {
            double decay = getDecay(optimizationStep);
            optimizationStep += 1;
            return decay;
        }

        private double getDecay(long optimizationStep) {
            long step = Math.max(0, optimizationStep - updateAfterStep - 1);
            double value = 1 - Math.pow(1 + step / invGamma, -power);
            if (step <= 0) {
                return 0.0;
            }
            return Math.max(minValue, Math.min(value, maxValue));
        }
    }

    @ParameterizedTest
    @CsvSource({
        "0, 1,   0.6666666666666666, 0,   0.9999",
        "0, 1,   0.75,               0,   0.999",
        "5, 3,   0.5,                0.5, 0.9",
        "1, 0.5, 1,                  0,   1",
    })
    void everyDecayOfAMillionUpdatesIsDiffusionPolicysOwnArithmetic(long updateAfterStep, double invGamma,
            double power, double minDecay, double maxDecay) {
        Warmup schedule = DecaySchedule.warmup().updateAfterStep(updateAfterStep).invGamma(invGamma).power(power)
                .minDecay(minDecay).maxDecay(maxDecay).build();
        DiffusionPolicyEmaModel diffusionPolicy = new DiffusionPolicyEmaModel(updateAfterStep, invGamma, power,
                minDecay, maxDecay);
        for (long updatesSoFar = 0; updatesSoFar < 1_000_000; updatesSoFar++) {
            double expected = diffusionPolicy.step();
            if (schedule.decayAt(updatesSoFar) != expected) {
                assertThat(schedule.decayAt(updatesSoFar)).as("after %d updates", updatesSoFar).isEqualTo(expected);
            }
        }
    }

    @Test
    void decaysEqualThoseCPythonComputesInDiffusionPolicysOwnGetDecay() {
        // printed by CPython 3.11 running diffusion_policy's EMAModel.get_decay (ema_model.py), stepped as step() does
        Warmup defaults = DecaySchedule.warmup().build();
        assertThat(defaults.decayAt(0)).isZero();
        assertThat(defaults.decayAt(1)).isZero();
        assertThat(defaults.decayAt(2)).isEqualTo(0.3700394750525634);
        assertThat(defaults.decayAt(3)).isEqualTo(0.5192501432308638);
        assertThat(defaults.decayAt(10)).isEqualTo(0.7845565309968117);
        assertThat(defaults.decayAt(1000)).isEqualTo(0.99);
        assertThat(defaults.decayAt(31_622)).isEqualTo(0.9989999836274639);
        assertThat(defaults.decayAt(999_999)).isEqualTo(0.9998999999333332);
    }

    @ParameterizedTest
    @CsvSource({"0", "1", "2", "10", "1000", "31623", "1000000"})
    void bothPresetsFollowTheSeedFormulaAtTheListedUpdates(long t) {
        assertThat(Preset.LONG.schedule().decayAt(t)).isEqualTo(seedDecay(t, 0, 1, 2.0 / 3, 0, 0.9999));
        assertThat(Preset.SHORT.schedule().decayAt(t)).isEqualTo(seedDecay(t, 0, 1, 0.75, 0, 0.999));
    }

    @Test
    void handCheckedValuesOfTheLongPreset() {
        Warmup long_ = Preset.LONG.schedule();
        assertThat(long_.decayAt(0)).isZero();
        assertThat(long_.decayAt(1)).isZero();
        assertThat(long_.decayAt(2)).isCloseTo(1 - Math.cbrt(0.25), within(1e-15)); // 1 - 2^(-2/3)
        assertThat(long_.decayAt(1000)).isCloseTo(0.99, within(1e-12));              // (1 + 999)^(-2/3) = 0.01
        assertThat(long_.decayAt(1_000_000)).isEqualTo(0.9999);
    }

    @Test
    void firstTwoUpdatesCopyTheWeights() {
        Warmup w = DecaySchedule.warmup().minDecay(0.5).maxDecay(0.9).build();
        assertThat(w.decayAt(0)).isZero();
        assertThat(w.decayAt(1)).isZero();
        assertThat(w.decayAt(2)).isEqualTo(0.5); // minDecay applies once averaging has started
    }

    @Test
    void longPresetReaches0999NearUpdate31623() {
        assertThat(Preset.LONG.schedule().firstUpdateReaching(0.999)).isBetween(31_622L, 31_624L);
    }

    @Test
    void shortPresetReaches0999NearUpdate10000() {
        assertThat(Preset.SHORT.schedule().firstUpdateReaching(0.999)).isBetween(9_999L, 10_001L);
    }

    @Property
    void updateAfterStepShiftsTheCurveExactly(@ForAll @LongRange(max = 1000) long after,
            @ForAll @LongRange(max = 100_000) long t) {
        Warmup base = DecaySchedule.warmup().build();
        Warmup shifted = DecaySchedule.warmup().updateAfterStep(after).build();
        assertThat(shifted.decayAt(t + after)).isEqualTo(base.decayAt(t));
        if (t < after + 2) {
            assertThat(shifted.decayAt(t)).isZero();
        }
    }

    @Property
    void everySettingFollowsTheSeedFormula(@ForAll @DoubleRange(min = 0.01, max = 5) double power,
            @ForAll @DoubleRange(min = 0.1, max = 100) double invGamma, @ForAll @LongRange(max = 1000) long after,
            @ForAll @DoubleRange(min = 0, max = 0.5) double min, @ForAll @DoubleRange(min = 0.5, max = 1) double max,
            @ForAll @LongRange(max = 10_000_000) long t) {
        Warmup w = DecaySchedule.warmup().power(power).invGamma(invGamma).updateAfterStep(after).minDecay(min)
                .maxDecay(max).build();
        assertThat(w.decayAt(t)).isCloseTo(seedDecay(t, after, invGamma, power, min, max), within(1e-15));
    }

    @Property
    void theDecayStaysWithinTheClampAndNeverDecreases(@ForAll @DoubleRange(min = 0.01, max = 5) double power,
            @ForAll @DoubleRange(min = 0.1, max = 100) double invGamma, @ForAll @LongRange(max = 10_000_000) long t) {
        Warmup w = DecaySchedule.warmup().power(power).invGamma(invGamma).minDecay(0.1).maxDecay(0.99).build();
        double d = w.decayAt(t);
        assertThat(d == 0 || (d >= 0.1 && d <= 0.99)).isTrue();
        assertThat(w.decayAt(t + 1)).isGreaterThanOrEqualTo(d);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "invGamma|0|invGamma must be > 0 and finite, was 0.0",
        "invGamma|NaN|invGamma must be > 0 and finite, was NaN",
        "invGamma|Infinity|invGamma must be > 0 and finite, was Infinity",
        "power|-0.5|power must be > 0 and finite, was -0.5",
        "power|NaN|power must be > 0 and finite, was NaN",
        "minDecay|-0.1|minDecay must be in [0, 1], was -0.1",
        "maxDecay|1.5|maxDecay must be in [0, 1], was 1.5",
        "maxDecay|NaN|maxDecay must be in [0, 1], was NaN",
    })
    void everyInvalidValueIsRejectedWithItsNameValueAndRange(String field, double value, String message) {
        Warmup.Builder b = DecaySchedule.warmup();
        switch (field) {
            case "invGamma" -> b.invGamma(value);
            case "power" -> b.power(value);
            case "minDecay" -> b.minDecay(value);
            default -> b.maxDecay(value);
        }
        assertThatThrownBy(b::build).isInstanceOf(IllegalArgumentException.class).hasMessage(message);
    }

    @Test
    void minAboveMaxAndNegativeDelayAreRejected() {
        assertThatThrownBy(() -> DecaySchedule.warmup().minDecay(0.9).maxDecay(0.5).build())
                .hasMessage("minDecay must be <= maxDecay (0.5), was 0.9");
        assertThatThrownBy(() -> DecaySchedule.warmup().updateAfterStep(-1).build())
                .hasMessage("updateAfterStep must be >= 0, was -1");
    }

    @Test
    void toStringPrintsEveryHyperParameter() {
        assertThat(Preset.SHORT.schedule().toString())
                .isEqualTo("Warmup{updateAfterStep=0, invGamma=1.0, power=0.75, minDecay=0.0, maxDecay=0.999}");
    }
}
