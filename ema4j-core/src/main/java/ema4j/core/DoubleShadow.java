package ema4j.core;

import java.nio.ByteBuffer;
import java.nio.DoubleBuffer;

/** A float64 shadow over float64 live weights. */
final class DoubleShadow implements Shadow {
    private final double[] values;
    private final boolean mulAdd;

    DoubleShadow(int size, Arithmetic arithmetic) {
        this.values = new double[size];
        this.mulAdd = arithmetic == Arithmetic.MUL_ADD;
    }

    @Override
    public void copyFrom(ByteBuffer live) {
        readExact(live);
    }

    @Override
    public int average(ByteBuffer live, double decay, int from, int to) {
        double a = 1.0 - decay;
        DoubleBuffer w = live.asDoubleBuffer();
        for (int i = from; i < to; i++) {
            double wi = w.get(i);
            if (!Double.isFinite(wi)) {
                return i;
            }
            values[i] = mulAdd ? Math.fma(a, wi, values[i] * decay)
                    : a == 1.0 ? wi : Math.fma(a, wi - values[i], values[i]);   // a copy where 1 - d rounds to 1
        }
        return -1;
    }

    @Override
    public void undoAverage(ByteBuffer live, double decay, int from, int to) {
        double a = 1.0 - decay;
        DoubleBuffer w = live.asDoubleBuffer();
        for (int i = from; i < to; i++) {
            values[i] = Math.fma(-a, w.get(i), values[i]) / (mulAdd ? decay : 1.0 - a);
        }
    }

    @Override
    public int firstNonFinite(ByteBuffer live) {
        DoubleBuffer w = live.asDoubleBuffer();
        for (int i = 0; i < values.length; i++) {
            if (!Double.isFinite(w.get(i))) {
                return i;
            }
        }
        return -1;
    }

    @Override
    public void exchange(ByteBuffer live) {
        DoubleBuffer w = live.asDoubleBuffer();
        for (int i = 0; i < values.length; i++) {
            double kept = values[i];
            values[i] = w.get(i);
            w.put(i, kept);
        }
    }

    @Override
    public void writeTo(ByteBuffer target) {
        writeExact(target);
    }

    @Override
    public WeightFormat precision() {
        return WeightFormat.FLOAT64;
    }

    @Override
    public void writeExact(ByteBuffer target) {
        target.asDoubleBuffer().put(0, values);
    }

    @Override
    public void readExact(ByteBuffer source) {
        source.asDoubleBuffer().get(0, values);
    }

    @Override
    public void accumulateDrift(ByteBuffer live, double[] sums) {
        DoubleBuffer w = live.asDoubleBuffer();
        for (int i = 0; i < values.length; i++) {
            sums[0] += (values[i] - w.get(i)) * (values[i] - w.get(i));
            sums[1] += w.get(i) * w.get(i);
        }
    }

    @Override
    public long bytes() {
        return 8L * values.length;
    }

    @Override
    public double[] toDoubleArray() {
        return values.clone();
    }
}
