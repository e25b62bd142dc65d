package ema4j.core;

import java.nio.ByteBuffer;
import java.nio.DoubleBuffer;

/** A float64 shadow over float64 live weights. */
final class DoubleShadow implements Shadow {
    private final double[] values;

    DoubleShadow(int size) {
        this.values = new double[size];
    }

    @Override
    public void copyFrom(ByteBuffer live) {
        live.asDoubleBuffer().get(0, values);
    }

    @Override
    public int size() {
        return values.length;
    }

    @Override
    public int average(ByteBuffer live, double decay, int from, int to) {
        double a = 1.0 - decay;
        DoubleBuffer w = live.asDoubleBuffer();
        double[] e = values;
        for (int i = from; i < to; i++) {
            double wi = w.get(i);
            if (!Double.isFinite(wi)) {
                return i;
            }
            e[i] = Math.fma(a, wi - e[i], e[i]);
        }
        return -1;
    }

    @Override
    public void undoAverage(ByteBuffer live, double decay, int from, int to) {
        double a = 1.0 - decay;
        DoubleBuffer w = live.asDoubleBuffer();
        for (int i = from; i < to; i++) {
            double averaged = values[i];
            double wi = w.get(i);
            double guess = (averaged - a * wi) / (1.0 - a);
            double best = guess;
            double up = guess;
            double down = guess;
            for (int k = 0; k < 4 && Math.fma(a, wi - best, best) != averaged; k++) {
                up = Math.nextUp(up);
                down = Math.nextDown(down);
                if (Math.fma(a, wi - up, up) == averaged) {
                    best = up;
                } else if (Math.fma(a, wi - down, down) == averaged) {
                    best = down;
                }
            }
            values[i] = best;
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
        target.asDoubleBuffer().put(0, values);
    }

    @Override
    public void readFrom(ByteBuffer source) {
        copyFrom(source);
    }

    @Override
    public WeightFormat precision() {
        return WeightFormat.FLOAT64;
    }

    @Override
    public void writeExact(ByteBuffer target) {
        writeTo(target);
    }

    @Override
    public void readExact(ByteBuffer source) {
        readFrom(source);
    }

    @Override
    public void accumulateDrift(ByteBuffer live, double[] sums) {
        DoubleBuffer w = live.asDoubleBuffer();
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < values.length; i++) {
            double delta = values[i] - w.get(i);
            diff += delta * delta;
            norm += w.get(i) * w.get(i);
        }
        sums[0] += diff;
        sums[1] += norm;
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
