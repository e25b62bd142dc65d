package ema4j.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

/** A float32 shadow over float32, float16 or bfloat16 live weights. */
final class FloatShadow implements Shadow {
    /** Which float32 kernel this JVM runs, and when it is the slow one, how to get the fast one. */
    static final String KERNEL = VectorKernels.AVAILABLE
            ? "Vector API kernel, " + 16 * VectorKernels.pairLength() + "-bit vectors"
            : "scalar kernel: " + VectorKernels.UNAVAILABLE_BECAUSE;

    static {
        if (!VectorKernels.AVAILABLE) {
            System.getLogger("ema4j").log(System.Logger.Level.WARNING, "ema4j: the EMA update runs its scalar kernel,"
                    + " several times slower than the Vector API kernel (same results): "
                    + VectorKernels.UNAVAILABLE_BECAUSE + ".");
        }
    }

    private final float[] values;
    private final WeightFormat format;
    private final boolean mulAdd;
    /** The live 16-bit values kept aside while the shadow is swapped in; null otherwise. */
    private short[] swappedOut;

    FloatShadow(int size, WeightFormat format, Arithmetic arithmetic) {
        this.values = new float[size];
        this.format = format;
        this.mulAdd = arithmetic == Arithmetic.MUL_ADD;
    }

    @Override
    public void copyFrom(ByteBuffer live) {
        if (format == WeightFormat.FLOAT32) {
            live.asFloatBuffer().get(0, values);
        } else {
            ShortBuffer s = live.asShortBuffer();
            for (int i = 0; i < values.length; i++) {
                values[i] = widen(s.get(i));
            }
        }
    }

    /**
     * {@inheritDoc} In the fused arithmetic, where {@code 1 - d} rounds to 1 in float32 (decay 0, or below 2^-25),
     * the update is a copy, and is done as one: the average would round {@code w - e} first.
     */
    @Override
    public int average(ByteBuffer live, double decay, int from, int to) {
        float a = (float) (1.0 - decay);
        float d = (float) decay;
        if (format == WeightFormat.FLOAT32 && a != 1f && !mulAdd) {
            return averageVector(values, live, a, from, to);
        }
        for (int i = from; i < to; i++) {
            float wi = weight(live, i);
            if (!Float.isFinite(wi)) {
                return i;
            }
            values[i] = mulAdd ? Math.fma(a, wi, values[i] * d)
                    : a == 1f ? wi : Math.fma(a, wi - values[i], values[i]);
        }
        return -1;
    }

    /**
     * The float32 kernel: the Vector API's loop ({@link VectorKernels#pairs}) where it runs, the scalar kernel for
     * the rest, the same bits either way. The vector loop reads the weights from 64-byte boundaries, after a scalar
     * head when a tensor does not start on one (PyTorch's tensors do), since a vector that straddles two cache lines
     * costs two loads. A pair of vectors that fails the loop's check goes to the scalar kernel, which stops at the
     * non-finite weight or, when only {@code w - e} overflowed, averages the pair as usual.
     */
    static int averageVector(float[] e, ByteBuffer live, float a, int from, int to) {
        FloatBuffer w = live.asFloatBuffer();
        if (!VectorKernels.AVAILABLE || live.order() != ByteOrder.nativeOrder()) {
            return averageScalar(e, w, a, from, to);
        }
        int head = live.isDirect() ? Math.min(to - from, headElements(live, from)) : 0;
        int bad = averageScalar(e, w, a, from, from + head);
        int step = VectorKernels.pairLength();
        int i = from + head;
        int pairEnd = i + (to - i) / step * step;
        while (bad < 0 && i < pairEnd) {
            i = VectorKernels.pairs(e, live, a, i, pairEnd);
            if (i < pairEnd) {
                bad = averageScalar(e, w, a, i, i + step);
                i += step;
            }
        }
        return bad >= 0 ? bad : averageScalar(e, w, a, i, to);
    }

    /** Elements from {@code from} to the next weight at a 64-byte-aligned address (0 when unaligned by 4). */
    private static int headElements(ByteBuffer live, int from) {
        int misaligned = live.alignmentOffset(4 * from, 64);
        return misaligned % 4 != 0 || misaligned == 0 ? 0 : (64 - misaligned) / 4;
    }

    /**
     * The reference kernel, which the Vector API kernel matches bit for bit: averages up to the first non-finite
     * weight and returns its index, or -1.
     */
    static int averageScalar(float[] e, FloatBuffer w, float a, int from, int to) {
        for (int i = from; i < to; i++) {
            float wi = w.get(i);
            if (!Float.isFinite(wi)) {
                return i;
            }
            e[i] = Math.fma(a, wi - e[i], e[i]);
        }
        return -1;
    }

    @Override
    public void undoAverage(ByteBuffer live, double decay, int from, int to) {
        float a = (float) (1.0 - decay);
        for (int i = from; i < to; i++) {
            values[i] = (float) ((values[i] - (double) a * weight(live, i)) / (mulAdd ? (float) decay : 1.0 - a));
        }
    }

    @Override
    public int firstNonFinite(ByteBuffer live) {
        for (int i = 0; i < values.length; i++) {
            if (!Float.isFinite(weight(live, i))) {
                return i;
            }
        }
        return -1;
    }

    @Override
    public void exchange(ByteBuffer live) {
        if (format == WeightFormat.FLOAT32) {
            FloatBuffer w = live.asFloatBuffer();
            for (int i = 0; i < values.length; i++) {
                float kept = values[i];
                values[i] = w.get(i);
                w.put(i, kept);
            }
            return;
        }
        ShortBuffer w = live.asShortBuffer();
        if (swappedOut == null) {
            swappedOut = new short[values.length];
            w.get(0, swappedOut);
            writeTo(live);
        } else {
            w.put(0, swappedOut);
            swappedOut = null;
        }
    }

    @Override
    public void writeTo(ByteBuffer target) {
        if (format == WeightFormat.FLOAT32) {
            writeExact(target);
            return;
        }
        ShortBuffer s = target.asShortBuffer();
        for (int i = 0; i < values.length; i++) {
            s.put(i, format == WeightFormat.BFLOAT16 ? HalfPrecision.floatToBfloat16(values[i])
                    : HalfPrecision.floatToHalf(values[i]));
        }
    }

    @Override
    public WeightFormat precision() {
        return WeightFormat.FLOAT32;
    }

    @Override
    public void writeExact(ByteBuffer target) {
        target.asFloatBuffer().put(0, values);
    }

    @Override
    public void readExact(ByteBuffer source) {
        source.asFloatBuffer().get(0, values);
    }

    @Override
    public void accumulateDrift(ByteBuffer live, double[] sums) {
        for (int i = 0; i < values.length; i++) {
            double w = weight(live, i);
            sums[0] += (values[i] - w) * (values[i] - w);
            sums[1] += w * w;
        }
    }

    @Override
    public long bytes() {
        return 4L * values.length;
    }

    @Override
    public double[] toDoubleArray() {
        double[] copy = new double[values.length];
        for (int i = 0; i < values.length; i++) {
            copy[i] = values[i];
        }
        return copy;
    }

    /** Live element {@code i} as a float; off the hot path. */
    private float weight(ByteBuffer live, int i) {
        return format == WeightFormat.FLOAT32 ? live.getFloat(4 * i) : widen(live.getShort(2 * i));
    }

    private float widen(short bits) {
        return format == WeightFormat.BFLOAT16 ? HalfPrecision.bfloat16ToFloat(bits) : HalfPrecision.halfToFloat(bits);
    }
}
