package ema4j.core.schedule;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

class DecayScheduleTest {

    @Test
    void constantDecayIsTheSameForEveryUpdate() {
        assertThat(DecaySchedule.constant(0.99).decayAt(0)).isEqualTo(0.99);
        assertThat(DecaySchedule.constant(0.99).decayAt(123_456)).isEqualTo(0.99);
    }

    @Test
    void invalidConstantsAreRejected() {
        assertThatThrownBy(() -> DecaySchedule.constant(1.01)).hasMessage("decay must be in [0, 1], was 1.01");
        assertThatThrownBy(() -> DecaySchedule.constant(Double.NaN)).hasMessage("decay must be in [0, 1], was NaN");
    }

    @Test
    void presetsAreFoundByNameAndUnknownNamesListTheKnownOnes() {
        assertThat(DecaySchedule.preset("LONG")).isEqualTo(Preset.LONG.schedule());
        assertThat(DecaySchedule.preset("short").power()).isEqualTo(0.75);
        assertThatThrownBy(() -> DecaySchedule.preset("medium"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("preset must be one of long, short, was medium");
    }

    @Property
    void aCompoundedDecayIsTheProductOfTheSingleDecays(@ForAll @LongRange(max = 100_000) long t,
            @ForAll @IntRange(min = 1, max = 20) int k) {
        DecaySchedule s = Preset.LONG.schedule();
        double product = 1;
        for (int i = 0; i < k; i++) {
            long step = Math.max(0, t + i - 1);   // diffusion_policy's EMAModel warmup with power 2/3, at most 0.9999
            product *= step == 0 ? 0 : Math.min(0.9999, 1 - Math.pow(1 + step, -2.0 / 3));
        }
        assertThat(s.compoundedDecay(t, k)).isCloseTo(product, within(1e-12));
    }

    @Test
    void aScheduleThatNeverReachesItsTargetSaysSo() {
        assertThat(DecaySchedule.constant(0.5).firstUpdateReaching(0.9)).isEqualTo(-1);
        assertThat(DecaySchedule.constant(0.5).firstUpdateReaching(0.1)).isZero();
    }
}
