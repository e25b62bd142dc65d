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
    void bfloat16RoundingPicksTheNearestValueAndTheEvenOneOnATie(@ForAll float x) {
        if (Float.isNaN(x)) {
            assertThat(HalfPrecision.bfloat16ToFloat(HalfPrecision.floatToBfloat16(x))).isNaN();
            return;
        }
        if (Math.abs(x) > 3.3895e38f) {
            return; // rounds to infinity, as PyTorch does
        }
        int magnitude = (Float.floatToRawIntBits(x) & 0x7fffffff) >>> 16;  // the bfloat16 toward zero
        int sign = Float.floatToRawIntBits(x) & 0x80000000;
        double below = Math.abs(x - (double) Float.intBitsToFloat(sign | magnitude << 16));
        double above = Math.abs(Float.intBitsToFloat(sign | (magnitude + 1) << 16) - (double) x);
        int expected = below < above || (below == above && (magnitude & 1) == 0) ? magnitude : magnitude + 1;
        assertThat(HalfPrecision.floatToBfloat16(x) & 0x7fff).as("bfloat16 of %s", x).isEqualTo(expected);
    }

    @Test
    void bfloat16TiesGoToTheEvenValue() {
        assertThat(HalfPrecision.floatToBfloat16(1f + 0x1p-8f)).isEqualTo((short) 0x3f80);       // 1 + half a step
        assertThat(HalfPrecision.floatToBfloat16(1f + 0x1.8p-7f)).isEqualTo((short) 0x3f82);     // 1 + 1.5 steps
        assertThat(HalfPrecision.floatToBfloat16(-(1f + 0x1p-8f))).isEqualTo((short) 0xbf80);
        assertThat(HalfPrecision.floatToBfloat16(1f + 0x1.02p-8f)).isEqualTo((short) 0x3f81);    // just above a tie
    }
}
