package ema4j.core;

import static org.assertj.core.api.Assertions.assertThat;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.junit.jupiter.api.Test;

class HalfPrecisionTest {

    @Test
    void everyFloat16ValueRoundTripsThroughFloat32() {
        for (int bits = 0; bits < 0x10000; bits++) {
            float f = HalfPrecision.halfToFloat((short) bits);
            if (!Float.isNaN(f)) {
                assertThat(HalfPrecision.floatToHalf(f) & 0xffff).as("bits %x", bits).isEqualTo(bits);
            }
        }
    }

    @Test
    void knownFloat16Values() {
        assertThat(HalfPrecision.halfToFloat((short) 0x3c00)).isEqualTo(1f);
        assertThat(HalfPrecision.halfToFloat((short) 0x7bff)).isEqualTo(65504f);
        assertThat(HalfPrecision.halfToFloat((short) 0x0001)).isEqualTo(0x1p-24f);
        assertThat(HalfPrecision.floatToHalf(65520f)).isEqualTo((short) 0x7c00);
        assertThat(HalfPrecision.floatToHalf(1f + 0x1p-11f)).isEqualTo((short) 0x3c00);   // tie to even
        assertThat(HalfPrecision.floatToHalf(1f + 0x1.8p-11f)).isEqualTo((short) 0x3c01);
    }

    @Property(tries = 2000)
    void float16RoundingPicksTheNearestRepresentableValue(@ForAll float x) {
        if (Float.isNaN(x) || Math.abs(x) >= 65520f) {
            return;
        }
        int bits = HalfPrecision.floatToHalf(x);
        double chosen = Math.abs(HalfPrecision.halfToFloat((short) bits) - (double) x);
        int magnitude = bits & 0x7fff;
        for (int neighbour : new int[] {magnitude - 1, magnitude + 1}) {
            if (neighbour >= 0 && neighbour <= 0x7bff) {
                float other = HalfPrecision.halfToFloat((short) ((bits & 0x8000) | neighbour));
                assertThat(chosen).isLessThanOrEqualTo(Math.abs(other - (double) x));
            }
        }
    }

    @Property(tries = 2000)
    void bfloat16IsTheRoundedTopHalfOfAFloat(@ForAll float x) {
        if (Float.isNaN(x)) {
            assertThat(HalfPrecision.bfloat16ToFloat(HalfPrecision.floatToBfloat16(x))).isNaN();
            return;
        }
        if (Math.abs(x) > 3.3895e38f) {
            return; // rounds to infinity, as PyTorch does
        }
        double expected = x;
        float rounded = HalfPrecision.bfloat16ToFloat(HalfPrecision.floatToBfloat16(x));
        assertThat(Math.abs(rounded - expected)).isLessThanOrEqualTo(Math.abs(expected) * 0x1p-8 + Float.MIN_VALUE);
    }
}
