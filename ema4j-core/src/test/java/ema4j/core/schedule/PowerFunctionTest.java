package ema4j.core.schedule;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Scale;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

class PowerFunctionTest {

    @Property
    void theFirstUpdateCopiesTheWeights(@ForAll @Scale(6) @DoubleRange(min = -0.999, max = 1000) double gamma) {
        assertThat(DecaySchedule.powerFunction(gamma).decayAt(0)).isZero();
    }

    @Property
    void theDecayIsEdm2sRuleWithOneStepPerUpdate(@ForAll @Scale(6) @DoubleRange(min = -0.999, max = 100) double gamma,
            @ForAll @LongRange(max = 10_000_000) long updatesSoFar) {
        double stepsSeen = updatesSoFar + 1.0;
        double edm2 = Math.pow(1 - 1 / stepsSeen, gamma + 1);
        assertThat(new PowerFunction(gamma).decayAt(updatesSoFar)).isCloseTo(edm2, within(1e-12));
    }

    @Property
    void theDecayNeverDecreasesAndTendsToOne(@ForAll @Scale(6) @DoubleRange(min = -0.999, max = 100) double gamma,
            @ForAll @LongRange(max = 1_000_000) long updatesSoFar) {
        PowerFunction schedule = new PowerFunction(gamma);
        assertThat(schedule.decayAt(updatesSoFar + 1)).isGreaterThanOrEqualTo(schedule.decayAt(updatesSoFar));
        assertThat(schedule.decayAt(updatesSoFar)).isBetween(0.0, 1.0);
        assertThat(schedule.decayAt(1L << 50)).isCloseTo(1.0, within(1e-12));
    }

    @Property
    void averagingEveryKthStepIsEdm2sRuleWithABatchOfKSteps(@ForAll @DoubleRange(min = 0, max = 50) double gamma,
            @ForAll @LongRange(min = 1, max = 100_000) long updatesSoFar, @ForAll @IntRange(min = 1, max = 64) int k) {
        double t = updatesSoFar + k; // training seen after the folded update
        double edm2 = Math.pow(1 - k / t, gamma + 1);
        assertThat(new PowerFunction(gamma).compoundedDecay(updatesSoFar, k)).isCloseTo(edm2, within(1e-12));
    }

    @Test
    void gammaZeroIsTheRunningMeanOfEveryWeightSeen() {
        PowerFunction schedule = DecaySchedule.powerFunction(0);
        double ema = 0;
        double sum = 0;
        for (int n = 1; n <= 1000; n++) {
            double weight = Math.sin(n) + n * 1e-3;
            ema = schedule.decayAt(n - 1) * ema + (1 - schedule.decayAt(n - 1)) * weight;
            sum += weight;
        }
        assertThat(ema).isCloseTo(sum / 1000, within(1e-12));
    }

    @Test
    void theKthOfNUpdatesGetsTheProfilesMassOnItsStep() {
        double gamma = 6.94;
        int n = 50;
        PowerFunction schedule = new PowerFunction(gamma);
        for (int k = 1; k <= n; k++) {
            double weightOfK = 1 - schedule.decayAt(k - 1);
            for (int later = k + 1; later <= n; later++) {
                weightOfK *= schedule.decayAt(later - 1);
            }
            double mass = (Math.pow(k, gamma + 1) - Math.pow(k - 1, gamma + 1)) / Math.pow(n, gamma + 1);
            assertThat(weightOfK).isCloseTo(mass, within(1e-14));
        }
    }

    @Test
    void edm2sTwoTrackedLengthsHaveTheirKnownExponents() {
        assertThat(PowerFunction.ofSigmaRel(0.05).gamma()).isCloseTo(16.97, within(0.005));
        assertThat(DecaySchedule.powerFunctionForSigmaRel(0.10).gamma()).isCloseTo(6.94, within(0.005));
        assertThat(PowerFunction.ofSigmaRel(0.05).sigmaRel()).isCloseTo(0.05, within(1e-15));
    }

    @Test
    void toStringPrintsGammaAndSigmaRel() {
        assertThat(new PowerFunction(0).toString())
                .isEqualTo("PowerFunction{gamma=0.0, sigmaRel=" + Math.sqrt(1.0 / 12) + "}");
    }

    @Test
    void invalidExponentsAndLengthsAreRejectedWithTheirValue() {
        assertThatThrownBy(() -> DecaySchedule.powerFunction(-1))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("gamma must be > -1 and finite, was -1.0");
        assertThatThrownBy(() -> new PowerFunction(Double.NaN)).hasMessage("gamma must be > -1 and finite, was NaN");
        assertThatThrownBy(() -> new PowerFunction(Double.POSITIVE_INFINITY))
                .hasMessage("gamma must be > -1 and finite, was Infinity");
        assertThatThrownBy(() -> PowerFunction.ofSigmaRel(0.31))
                .hasMessageStartingWith("sigmaRel must be in (0, 0.3002").hasMessageEndingWith("], was 0.31");
        assertThatThrownBy(() -> new PowerFunction(1).decayAt(-1)).hasMessage("updatesSoFar must be >= 0, was -1");
    }
}
