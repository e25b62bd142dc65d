package ema4j.core;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The float32 update kernel for JDK 22 and later, whose Vector API loads from memory segments instead of
 * {@code ByteBuffer}s: the same kernel as the JDK 17 one (same arithmetic, same bits, the same check and the same
 * stop at the first non-finite weight), reading the live weights through {@link MemorySegment#ofBuffer}. The jar
 * carries it under {@code META-INF/versions/22}, so a JVM of release 22 or later loads it in place of the JDK 17
 * class; {@code NewerJdkTest} runs it.
 */
final class VectorKernels {
    /** Whether the incubating Vector API module is present; {@code -Dema4j.vector=false} turns the kernel off. */
    static final boolean AVAILABLE = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
            && !"false".equals(System.getProperty("ema4j.vector"));

    private VectorKernels() {}

    static int average(float[] e, ByteBuffer live, float a, int from, int to) {
        return Kernel.average(e, live, a, from, to);
    }

    /** Holds the species in a class of its own, so that nothing of the Vector API loads unless it is used. */
    private static final class Kernel {
        private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED;
        /** Cache-line size: vectors are loaded from weights at addresses that are multiples of it. */
        private static final int LINE = 64;
        /** The byte order the vector loop reads; a constant, so that the loads compile to plain moves. */
        private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

        static int average(float[] e, ByteBuffer live, float a, int from, int to) {
            if (live.order() != NATIVE) {
                return scalar(e, live, a, from, to);
            }
            MemorySegment weights = MemorySegment.ofBuffer(live);
            int lanes = SPECIES.length();
            int head = weights.isNative() ? Math.min(to - from, headElements(weights, from)) : 0;
            int bad = scalar(e, live, a, from, from + head);
            if (bad >= 0) {
                return bad;
            }
            int step = 2 * lanes;
            int i = from + head;
            int pairEnd = i + (to - i) / step * step;
            while (i < pairEnd) {
                i = pairs(e, weights, a, i, pairEnd);
                if (i < pairEnd) {
                    // a lane was not finite, or w - e overflowed: the scalar kernel sorts the pair out
                    bad = scalar(e, live, a, i, i + step);
                    if (bad >= 0) {
                        return bad;
                    }
                    i += step;
                }
            }
            return scalar(e, live, a, i, to);
        }

        /**
         * The hot loop: averages two vectors per turn with one check for both, from {@code from} up to {@code end}
         * (a whole number of pairs), and returns {@code end}, or the start of the first pair that failed the
         * check, left untouched.
         */
        private static int pairs(float[] e, MemorySegment weights, float a, int from, int end) {
            int lanes = SPECIES.length();
            FloatVector weight = FloatVector.broadcast(SPECIES, a);
            for (int i = from; i < end; i += 2 * lanes) {
                FloatVector e0 = FloatVector.fromArray(SPECIES, e, i);
                FloatVector e1 = FloatVector.fromArray(SPECIES, e, i + lanes);
                FloatVector d0 = FloatVector.fromMemorySegment(SPECIES, weights, 4L * i, NATIVE).sub(e0);
                FloatVector d1 = FloatVector.fromMemorySegment(SPECIES, weights, 4L * (i + lanes), NATIVE).sub(e1);
                if (d0.mul(0f).add(d1.mul(0f)).compare(VectorOperators.NE, 0f).anyTrue()) {
                    return i;
                }
                d0.fma(weight, e0).intoArray(e, i);
                d1.fma(weight, e1).intoArray(e, i + lanes);
            }
            return end;
        }

        /** Elements from {@code from} to the next weight at a 64-byte-aligned address (0 when unaligned by 4). */
        private static int headElements(MemorySegment weights, int from) {
            int misaligned = (int) ((weights.address() + 4L * from) % LINE);
            return misaligned % 4 != 0 || misaligned == 0 ? 0 : (LINE - misaligned) / 4;
        }

        /**
         * The scalar kernel over {@code [from, to)}: the head, the tail, and any pair with a non-finite lane.
         * Returns the first non-finite weight's index with the elements before it averaged, or -1.
         */
        private static int scalar(float[] e, ByteBuffer live, float a, int from, int to) {
            for (int k = from; k < to; k++) {
                float w = live.getFloat(4 * k);
                if (!Float.isFinite(w)) {
                    return k;
                }
                e[k] = Math.fma(a, w - e[k], e[k]);
            }
            return -1;
        }
    }
}
