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
 * the same bits. Used only when the JVM was started with {@code --add-modules jdk.incubator.vector}; the check
 * is in {@link #AVAILABLE}, and this class is loaded only after it.
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

        static int average(float[] e, ByteBuffer live, float a, int from, int to) {
            ByteOrder order = live.order();
            int lanes = SPECIES.length();
            FloatVector weight = FloatVector.broadcast(SPECIES, a);
            for (int start = from; start < to; start += Shadow.BLOCK) {
                int end = Math.min(to, start + Shadow.BLOCK);
                int vectorEnd = start + SPECIES.loopBound(end - start);
                // w * 0 is 0 for finite w and NaN for NaN or infinity: one lane-wise sum finds them all
                FloatVector probe = FloatVector.zero(SPECIES);
                for (int i = start; i < vectorEnd; i += lanes) {
                    probe = probe.add(FloatVector.fromByteBuffer(SPECIES, live, 4 * i, order).mul(0f));
                }
                float tail = 0f;
                for (int i = vectorEnd; i < end; i++) {
                    tail += live.getFloat(4 * i) * 0f;
                }
                if (tail != 0f || probe.reduceLanes(VectorOperators.ADD) != 0f) {
                    return FloatShadow.firstNonFinite(live.asFloatBuffer(), start, end);
                }
                for (int i = start; i < vectorEnd; i += lanes) {
                    FloatVector w = FloatVector.fromByteBuffer(SPECIES, live, 4 * i, order);
                    FloatVector ev = FloatVector.fromArray(SPECIES, e, i);
                    w.sub(ev).fma(weight, ev).intoArray(e, i);
                }
                for (int i = vectorEnd; i < end; i++) {
                    e[i] = Math.fma(a, live.getFloat(4 * i) - e[i], e[i]);
                }
            }
            return -1;
        }
    }
}
