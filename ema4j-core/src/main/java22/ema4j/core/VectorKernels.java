package ema4j.core;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The hot loop of the float32 update for JDK 22 and later, whose Vector API loads from memory segments instead of
 * {@code ByteBuffer}s: the JDK 17 loop (same arithmetic, same bits, same check) reading the weights through
 * {@link MemorySegment#ofBuffer}. Jars carry it under {@code META-INF/versions/22}, so a JVM of release 22 or later
 * loads it in place of the JDK 17 class; {@code NewerJdkTest} runs it.
 */
final class VectorKernels {
    /** Whether the incubating Vector API module is present. */
    static final boolean AVAILABLE = ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent();

    /** Why the loop cannot run, and what would make it run; null when it runs. */
    static final String UNAVAILABLE_BECAUSE = AVAILABLE ? null
            : "the JVM runs without the Vector API; start it with --add-modules jdk.incubator.vector";

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
        return Loop.pairs(e, MemorySegment.ofBuffer(live), a, from, end);
    }

    /** Holds the species in a class of its own, so that nothing of the Vector API loads unless it is used. */
    private static final class Loop {
        /** The CPU's widest vectors up to 256 bits, as in the JDK 17 loop. */
        private static final VectorSpecies<Float> SPECIES = FloatVector.SPECIES_PREFERRED.vectorBitSize() <= 256
                ? FloatVector.SPECIES_PREFERRED : FloatVector.SPECIES_256;
        /** A constant, so that the loads compile to plain moves. */
        private static final ByteOrder NATIVE = ByteOrder.nativeOrder();

        static int pairs(float[] e, MemorySegment live, float a, int from, int end) {
            int lanes = SPECIES.length();
            FloatVector weight = FloatVector.broadcast(SPECIES, a);
            for (int i = from; i < end; i += 2 * lanes) {
                FloatVector e0 = FloatVector.fromArray(SPECIES, e, i);
                FloatVector e1 = FloatVector.fromArray(SPECIES, e, i + lanes);
                FloatVector d0 = FloatVector.fromMemorySegment(SPECIES, live, 4L * i, NATIVE).sub(e0);
                FloatVector d1 = FloatVector.fromMemorySegment(SPECIES, live, 4L * (i + lanes), NATIVE).sub(e1);
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
