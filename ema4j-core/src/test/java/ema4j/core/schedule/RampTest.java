package ema4j.core.schedule;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

class RampTest {

    /**
     * torch-ema's {@code ExponentialMovingAverage.update}, written out from its Python independently of the production
     * code: {@code num_updates += 1}, then {@code min(decay, (1 + num_updates) / (10 + num_updates))}, the division
     * of two integers, which CPython rounds once, as one double division of exact operands does.
     */
    private static final class TorchEma {
        private final double decay;
        private long numUpdates = 0;

        TorchEma(double decay) {
            this.decay = decay;
        }

        double update() {
            numUpdates += 1;
            return Math.min(decay, (double) (1 + numUpdates) / (double) (10 + numUpdates));
        }
    }

    @Test
    void theFirstUpdatesCountLikeTorchEmaSoNoneOfThemCopies() {
        Ramp ramp = DecaySchedule.ramp(0.999);
        assertThat(ramp.decayAt(0)).isEqualTo(2.0 / 11);
        assertThat(ramp.decayAt(1)).isEqualTo(0.25);
        assertThat(ramp.decayAt(2)).isEqualTo(4.0 / 13);
        assertThat(ramp.decayAt(9)).isEqualTo(11.0 / 20);
    }

    @Test
    void itStopsAtItsCeiling() {
        Ramp ramp = DecaySchedule.ramp(0.999);
        assertThat(ramp.decayAt(8_989)).isEqualTo(0.999);   // n = 8990: 8991 / 9000 is 0.999 exactly
        assertThat(ramp.decayAt(8_988)).isLessThan(0.999);
        assertThat(ramp.decayAt(100_000)).isEqualTo(0.999);
        assertThat(ramp.decayAt(Long.MAX_VALUE)).isEqualTo(0.999);
    }

    @Test
    void decaysEqualThoseCPythonComputesInTorchEmasOwnUpdate() {
        // printed by CPython 3.11 running ExponentialMovingAverage.update from torch_ema/ema.py
        Ramp ramp = DecaySchedule.ramp(0.9999);
        assertThat(ramp.decayAt(0)).isEqualTo(0.18181818181818182);
        assertThat(ramp.decayAt(2)).isEqualTo(0.3076923076923077);
        assertThat(ramp.decayAt(10)).isEqualTo(0.5714285714285714);
        assertThat(ramp.decayAt(1000)).isEqualTo(0.9910979228486647);
        assertThat(ramp.decayAt(31_622)).isEqualTo(0.999715486991433);
    }

    @Test
    void everyDecayOfAMillionUpdatesIsTorchEmasOwnArithmetic() {
        for (double decay : new double[] {0.9999, 0.999, 0.5}) {
            Ramp ramp = DecaySchedule.ramp(decay);
            TorchEma torchEma = new TorchEma(decay);
            for (long updatesSoFar = 0; updatesSoFar < 1_000_000; updatesSoFar++) {
                double expected = torchEma.update();
                if (ramp.decayAt(updatesSoFar) != expected) {
                    assertThat(ramp.decayAt(updatesSoFar)).as("after %d updates", updatesSoFar).isEqualTo(expected);
                }
            }
        }
    }

    @Property
    void theDecayNeverDecreasesAndNeverPassesTheCeiling(@ForAll @DoubleRange(min = 0, max = 1) double maxDecay,
            @ForAll @LongRange(max = 1L << 52) long t) {
        Ramp ramp = new Ramp(maxDecay);
        assertThat(ramp.decayAt(t + 1)).isGreaterThanOrEqualTo(ramp.decayAt(t));
        assertThat(ramp.decayAt(t)).isBetween(0.0, maxDecay);
    }

    @Test
    void invalidCeilingsAndCountsAreRejected() {
        assertThatThrownBy(() -> DecaySchedule.ramp(-1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("maxDecay must be in [0, 1], was -1.0");
        assertThatThrownBy(() -> DecaySchedule.ramp(Double.NaN)).hasMessage("maxDecay must be in [0, 1], was NaN");
        assertThatThrownBy(() -> DecaySchedule.ramp(0.9).decayAt(-1)).hasMessage("updatesSoFar must be >= 0, was -1");
    }
}
