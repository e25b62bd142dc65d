package ema4j.core;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.ShortBuffer;

/** A float32 shadow over float32, float16 or bfloat16 live weights. */
final class FloatShadow implements Shadow {
    private final float[] values;
    private final WeightFormat format;
    /** The live 16-bit values kept aside while the shadow is swapped in; null otherwise. */
    private short[] swappedOut;

    FloatShadow(int size, WeightFormat format) {
        this.values = new float[size];
        this.format = format;
    }

    float[] values() {
        return values;
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

    @Override
    public int size() {
        return values.length;
    }

    @Override
    public int average(ByteBuffer live, double decay, int from, int to) {
        float a = (float) (1.0 - decay);
        float[] e = values;
        if (format == WeightFormat.FLOAT32) {
            return averageFloat32(e, live, a, from, to);
        }
        ShortBuffer w = live.asShortBuffer();
        for (int i = from; i < to; i++) {
            float wi = widen(w.get(i));
            if (!Float.isFinite(wi)) {
                return i;
            }
            e[i] = Math.fma(a, wi - e[i], e[i]);
        }
        return -1;
    }

    /**
     * The float32 kernel: the compiled loop ({@link NativeKernel}) where it is loaded and the weights are a direct
     * buffer in native byte order, else {@link #averageVector}; the same bits either way.
     */
    static int averageFloat32(float[] e, ByteBuffer live, float a, int from, int to) {
        if (NativeKernel.AVAILABLE && live.isDirect() && live.order() == ByteOrder.nativeOrder()) {
            return NativeKernel.average(e, live, a, from, to);
        }
        return averageVector(e, live, a, from, to);
    }

    /**
     * The float32 kernel in Java: the Vector API's hot loop ({@link VectorKernels#pairs}) where it runs, the scalar
     * kernel for the rest, the same bits either way. The vector loop reads the weights from 64-byte boundaries, after a
     * scalar head when a tensor does not start on one (PyTorch's tensors do), since a vector that straddles two
     * cache lines costs two loads. A pair of vectors that fails the loop's check goes to the scalar kernel, which
     * stops at the non-finite weight or, when {@code w - e} only overflowed, averages the pair as usual.
     */
    static int averageVector(float[] e, ByteBuffer live, float a, int from, int to) {
        FloatBuffer w = live.asFloatBuffer();
        if (!VectorKernels.AVAILABLE || live.order() != ByteOrder.nativeOrder()) {
            return averageScalar(e, w, a, from, to);
        }
        int head = live.isDirect() ? Math.min(to - from, headElements(live, from)) : 0;
        int bad = averageScalar(e, w, a, from, from + head);
        if (bad >= 0) {
            return bad;
        }
        int step = VectorKernels.pairLength();
        int i = from + head;
        int pairEnd = i + (to - i) / step * step;
        while (i < pairEnd) {
            i = VectorKernels.pairs(e, live, a, i, pairEnd);
            if (i < pairEnd) {
                bad = averageScalar(e, w, a, i, i + step);
                if (bad >= 0) {
                    return bad;
                }
                i += step;
            }
        }
        return averageScalar(e, w, a, i, to);
    }

    /** Elements from {@code from} to the next weight at a 64-byte-aligned address (0 when unaligned by 4). */
    private static int headElements(ByteBuffer live, int from) {
        int misaligned = live.alignmentOffset(4 * from, 64);
        return misaligned % 4 != 0 || misaligned == 0 ? 0 : (64 - misaligned) / 4;
    }

    /**
     * The reference kernel for float32 live weights, which the Vector API kernel must match bit for bit: averages
     * up to the first non-finite weight and returns its index, or -1.
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
        FloatBuffer w32 = format == WeightFormat.FLOAT32 ? live.asFloatBuffer() : null;
        ShortBuffer w16 = format == WeightFormat.FLOAT32 ? null : live.asShortBuffer();
        for (int i = from; i < to; i++) {
            float w = w32 != null ? w32.get(i) : widen(w16.get(i));
            values[i] = invert(values[i], w, a);
        }
    }

    /**
     * The value {@code x} with {@code fma(a, w - x, x) == averaged}, found from the exact inverse and its float
     * neighbours. Rounding can map two neighbours to one result; then the nearest to the exact inverse is taken.
     */
    private static float invert(float averaged, float w, float a) {
        float guess = (float) ((averaged - (double) a * w) / (1.0 - a));
        if (Math.fma(a, w - guess, guess) == averaged) {
            return guess;
        }
        float up = guess;
        float down = guess;
        for (int k = 0; k < 4; k++) {
            up = Math.nextUp(up);
            if (Math.fma(a, w - up, up) == averaged) {
                return up;
            }
            down = Math.nextDown(down);
            if (Math.fma(a, w - down, down) == averaged) {
                return down;
            }
        }
        return guess;
    }

    @Override
    public int firstNonFinite(ByteBuffer live) {
        if (format == WeightFormat.FLOAT32) {
            return firstNonFinite(live.asFloatBuffer(), 0, values.length);
        }
        ShortBuffer w = live.asShortBuffer();
        for (int i = 0; i < values.length; i++) {
            if (!Float.isFinite(widen(w.get(i)))) {
                return i;
            }
        }
        return -1;
    }

    static int firstNonFinite(FloatBuffer w, int start, int end) {
        for (int i = start; i < end; i++) {
            if (!Float.isFinite(w.get(i))) {
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
            for (int i = 0; i < values.length; i++) {
                w.put(i, narrow(values[i]));
            }
        } else {
            w.put(0, swappedOut);
            swappedOut = null;
        }
    }

    @Override
    public void writeTo(ByteBuffer target) {
        if (format == WeightFormat.FLOAT32) {
            target.asFloatBuffer().put(0, values);
            return;
        }
        ShortBuffer s = target.asShortBuffer();
        for (int i = 0; i < values.length; i++) {
            s.put(i, narrow(values[i]));
        }
    }

    @Override
    public void readFrom(ByteBuffer source) {
        copyFrom(source);
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
        FloatBuffer w32 = format == WeightFormat.FLOAT32 ? live.asFloatBuffer() : null;
        ShortBuffer w16 = format == WeightFormat.FLOAT32 ? null : live.asShortBuffer();
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < values.length; i++) {
            double w = w32 != null ? w32.get(i) : widen(w16.get(i));
            double delta = values[i] - w;
            diff += delta * delta;
            norm += w * w;
        }
        sums[0] += diff;
        sums[1] += norm;
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

    private float widen(short bits) {
        return format == WeightFormat.BFLOAT16 ? HalfPrecision.bfloat16ToFloat(bits) : HalfPrecision.halfToFloat(bits);
    }

    private short narrow(float value) {
        return format == WeightFormat.BFLOAT16 ? HalfPrecision.floatToBfloat16(value) : HalfPrecision.floatToHalf(value);
    }
}
