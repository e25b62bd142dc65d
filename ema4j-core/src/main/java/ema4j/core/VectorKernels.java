package ema4j.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The float32 update kernel on the Vector API, reading the live weights straight from their (direct) buffer.
 *
 * <p>JDK 17 does not vectorize loops over a direct {@code FloatBuffer}; this kernel does, by hand. It computes
 * exactly what the scalar kernel computes (lane-wise {@code fma(a, w - e, e)}, the same rounding), so the two give
 * the same bits, and stops at the first non-finite weight with everything before it averaged and everything from it
 * on untouched, as the scalar kernel does. The check costs a multiply per vector and one add, one compare and a
 * branch that is never taken per pair of vectors: {@code (w - e) * 0} is 0 for a finite weight and NaN for NaN or
 * infinity, and a pair with any lane not 0 goes to the scalar kernel, which finds the weight (or, when
 * {@code w - e} only overflowed, averages the lanes as usual). The weights are read at 64-byte-aligned addresses
 * after a scalar head, since a vector that straddles two cache lines costs two loads; PyTorch's tensors start
 * aligned, so there the head is empty.
 *
 * <p>Used only when the JVM was started with {@code --add-modules jdk.incubator.vector} and its Vector API still
 * loads vectors from a {@code ByteBuffer} (JDK 17 to 19; later releases load from memory segments only, and there
 * the scalar kernel runs); the check is in {@link #AVAILABLE}, and {@code Kernel} is loaded only after it.
 */
final class VectorKernels {
    /**
     * Whether the incubating Vector API module is present with the ByteBuffer loads this kernel uses;
     * {@code -Dema4j.vector=false} turns the kernel off.
     */
    static final boolean AVAILABLE = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent()
            && !"false".equals(System.getProperty("ema4j.vector")) && loadsFromByteBuffers();

    private static boolean loadsFromByteBuffers() {
        try {
            Class<?> vector = Class.forName("jdk.incubator.vector.FloatVector");
            Class<?> species = Class.forName("jdk.incubator.vector.VectorSpecies");
            vector.getMethod("fromByteBuffer", species, ByteBuffer.class, int.class, ByteOrder.class);
            return true;
        } catch (ClassNotFoundException | NoSuchMethodException e) {
            return false;
        }
    }

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
            int lanes = SPECIES.length();
            int head = live.isDirect() ? Math.min(to - from, headElements(live, from)) : 0;
            int bad = scalar(e, live, a, from, from + head);
            if (bad >= 0) {
                return bad;
            }
            int step = 2 * lanes;
            int i = from + head;
            int pairEnd = i + (to - i) / step * step;
            while (i < pairEnd) {
                i = pairs(e, live, a, i, pairEnd);
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
         * The hot loop, with nothing else in its method: averages two vectors per turn with one check for both,
         * from {@code from} up to {@code end} (a whole number of pairs), and returns {@code end}, or the start of
         * the first pair that failed the check, left untouched.
         */
        private static int pairs(float[] e, ByteBuffer live, float a, int from, int end) {
            int lanes = SPECIES.length();
            FloatVector weight = FloatVector.broadcast(SPECIES, a);
            for (int i = from; i < end; i += 2 * lanes) {
                FloatVector e0 = FloatVector.fromArray(SPECIES, e, i);
                FloatVector e1 = FloatVector.fromArray(SPECIES, e, i + lanes);
                FloatVector d0 = FloatVector.fromByteBuffer(SPECIES, live, 4 * i, NATIVE).sub(e0);
                FloatVector d1 = FloatVector.fromByteBuffer(SPECIES, live, 4 * (i + lanes), NATIVE).sub(e1);
                if (d0.mul(0f).add(d1.mul(0f)).compare(VectorOperators.NE, 0f).anyTrue()) {
                    return i;
                }
                d0.fma(weight, e0).intoArray(e, i);
                d1.fma(weight, e1).intoArray(e, i + lanes);
            }
            return end;
        }

        /** Elements from {@code from} to the next weight at a 64-byte-aligned address (0 when unaligned by 4). */
        private static int headElements(ByteBuffer live, int from) {
            int misaligned = live.alignmentOffset(4 * from, LINE);
            return misaligned % 4 != 0 || misaligned == 0 ? 0 : (LINE - misaligned) / 4;
        }

        /**
         * The scalar kernel over {@code [from, to)}, the head, the tail, and any vector with a non-finite lane:
         * returns the first non-finite weight's index with the elements before it averaged, or -1.
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
