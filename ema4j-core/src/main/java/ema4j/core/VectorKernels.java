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
 * the same bits, and leaves a block with a non-finite weight as it was, as the scalar kernel does. Unlike the
 * scalar kernel it reads each weight once: it averages a block while checking it, keeping the block's old values
 * in a 1 KiB array to put back when the check fails. Measured on ResNet-50's tensors with one thread (AVX-512),
 * that ran about 20% faster than checking a block first and averaging it after, and faster than an update with
 * no check at all. Used only when the JVM was started with {@code --add-modules jdk.incubator.vector} and its
 * Vector API still loads vectors from a {@code ByteBuffer} (JDK 17 to 19; later releases load from memory segments
 * only, and there the scalar kernel runs); the check is in {@link #AVAILABLE}, and {@code Kernel} is loaded only
 * after it.
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
        /** One block of old values per thread that runs the kernel. */
        private static final ThreadLocal<float[]> BEFORE = ThreadLocal.withInitial(() -> new float[Shadow.BLOCK]);

        static int average(float[] e, ByteBuffer live, float a, int from, int to) {
            ByteOrder order = live.order();
            int lanes = SPECIES.length();
            FloatVector weight = FloatVector.broadcast(SPECIES, a);
            // the block's shadow before this pass, put back if the block holds a non-finite weight
            float[] before = BEFORE.get();
            for (int start = from; start < to; start += Shadow.BLOCK) {
                int end = Math.min(to, start + Shadow.BLOCK);
                int vectorEnd = start + SPECIES.loopBound(end - start);
                // (w - e) * 0 is 0 for finite w and NaN for NaN or infinity (e is finite): one lane-wise sum
                // finds them all, in the same pass that averages
                FloatVector probe = FloatVector.zero(SPECIES);
                int i = start;
                for (; i < vectorEnd; i += lanes) {
                    FloatVector w = FloatVector.fromByteBuffer(SPECIES, live, 4 * i, order);
                    FloatVector ev = FloatVector.fromArray(SPECIES, e, i);
                    ev.intoArray(before, i - start);
                    FloatVector difference = w.sub(ev);
                    probe = probe.add(difference.mul(0f));
                    difference.fma(weight, ev).intoArray(e, i);
                }
                float tail = 0f;
                for (; i < end; i++) {
                    float difference = live.getFloat(4 * i) - e[i];
                    before[i - start] = e[i];
                    tail += difference * 0f;
                    e[i] = Math.fma(a, difference, e[i]);
                }
                if (tail != 0f || probe.reduceLanes(VectorOperators.ADD) != 0f) {
                    int bad = rescue(e, live, a, before, start, end);
                    if (bad >= 0) {
                        return bad;
                    }
                }
            }
            return -1;
        }

        /**
         * The rare path, out of the hot method: puts the block back and finds its non-finite weight; or, when every
         * weight is finite but one lies so far from its shadow value that {@code w - e} overflowed, averages the block
         * as the scalar kernel does (the same bits) and returns -1.
         */
        private static int rescue(float[] e, ByteBuffer live, float a, float[] before, int start, int end) {
            System.arraycopy(before, 0, e, start, end - start);
            int bad = FloatShadow.firstNonFinite(live.asFloatBuffer(), start, end);
            if (bad < 0) {
                for (int k = start; k < end; k++) {
                    e[k] = Math.fma(a, live.getFloat(4 * k) - e[k], e[k]);
                }
            }
            return bad;
        }
    }
}
