package ema4j.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The hot loop of the float32 update on the Vector API, reading the live weights straight from their buffer;
 * {@link FloatShadow#averageVector} drives it and does the rest with the scalar kernel.
 *
 * <p>JDK 17 does not vectorize loops over a direct {@code FloatBuffer}; this loop does, by hand, with the arithmetic
 * of the scalar kernel (lane-wise {@code fma(a, w - e, e)}, the same rounding), so the two give the same bits. Two
 * vectors per turn and one check for both: {@code (w - e) * 0} is 0 for a finite weight and NaN for NaN or infinity,
 * so the two products summed and compared with 0 find any such weight, with a branch that is never taken. This class
 * loads vectors from {@code ByteBuffer}s, as the Vector API of JDK 17 to 19 does; jars carry a second version for JDK
 * 22 and later in {@code META-INF/versions/22}, on memory segments. Where neither applies, {@link #AVAILABLE} is false
 * and the scalar kernel runs.
 */
final class VectorKernels {
    private static final boolean MODULE = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

    /** Whether the incubating Vector API module is present with the ByteBuffer loads this loop uses. */
    static final boolean AVAILABLE = MODULE && loadsFromByteBuffers();

    /** Why the loop cannot run, and what would make it run; null when it runs. */
    static final String UNAVAILABLE_BECAUSE = AVAILABLE ? null : !MODULE
            ? "the JVM runs without the Vector API; start it with --add-modules jdk.incubator.vector"
            : "the Vector API of Java " + Runtime.version().feature() + " loads from memory segments only and this"
                    + " ema4j jar has no kernel for them (built without a JDK 22 or later); run Java 17 to 19 or 22+";

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

    /** Elements per turn of {@link #pairs}: two vectors. */
    static int pairLength() {
        return 2 * Loop.SPECIES.length();
    }

    /**
     * Averages from {@code from} up to {@code end} (a whole number of {@link #pairLength()}s; the buffer in native
     * order) and returns {@code end}, or the start of the first pair that failed the check, left untouched.
     */
    static int pairs(float[] e, ByteBuffer live, float a, int from, int end) {
        return Loop.pairs(e, live, a, from, end);
    }

    /** Holds the species in a class of its own, so that nothing of the Vector API loads unless it is used. */
    private static final class Loop {
        /**
         * The CPU's widest vectors up to 256 bits: a memory-bound loop gains nothing from wider ones, and a 512-bit
         * store to a {@code float[]} whose data need not be 64-byte aligned always spans two cache lines.
         */
        private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED.vectorBitSize() <= 256
                ? FloatVector.SPECIES_PREFERRED : FloatVector.SPECIES_256;
        /** A constant, so that the loads compile to plain moves. */
        private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

        static int pairs(float[] e, ByteBuffer live, float a, int from, int end) {
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
    }
}
