package ema4j.core;

import java.nio.ByteBuffer;

/**
 * The averaged values of one tensor and the update kernels that work on them, one implementation per shadow width.
 *
 * <p>The update pass checks each live weight for NaN and infinity as it averages it, so non-finite weights are
 * found without a second pass over the model.
 */
sealed interface Shadow permits FloatShadow, DoubleShadow {
    /**
     * The unit in which threads split the elements: a multiple of every vector length, so that each thread's range
     * starts where a tensor's start would be aligned (1 KiB of float32).
     */
    int BLOCK = 256;

    /** Overwrites the shadow with the live values. */
    void copyFrom(ByteBuffer live);

    /**
     * Averages the live values in as {@code e = fma(1 - d, w - e, e)}: the same average as the seed's
     * {@code mul_(d).add_(w, alpha=1-d)}, but a constant weight stays exactly constant and decay 1 freezes exactly,
     * where the seed's form lets a constant drift by tens of ulps over as many steps.
     *
     * Works on elements {@code [from, to)} only, so that several threads can share one tensor.
     *
     * @return -1 when every element was averaged; else the flat index of the first non-finite live value, with the
     *     elements before it averaged and it and those after it untouched
     */
    int average(ByteBuffer live, double decay, int from, int to);

    /** Reverts {@link #average} on elements {@code [from, to)}. */
    void undoAverage(ByteBuffer live, double decay, int from, int to);

    /** The number of elements. */
    int size();

    /** The flat index of the first NaN or infinite live value, or -1. */
    int firstNonFinite(ByteBuffer live);

    /**
     * Exchanges shadow and live values; a second call exchanges them back bit-exactly. For 16-bit live formats the
     * live bits are kept aside while swapped, since a float32 shadow cannot hold them and get them back.
     */
    void exchange(ByteBuffer live);

    /** Writes the shadow into {@code target} in the live format, rounding to nearest even where narrower. */
    void writeTo(ByteBuffer target);

    /** Reads shadow values from {@code source}, given in the live format. */
    void readFrom(ByteBuffer source);

    /** The shadow's own format: float32, or float64 for float64 weights. */
    WeightFormat precision();

    /** Writes the shadow at its own precision ({@link #precision()}), in the buffer's byte order. */
    void writeExact(ByteBuffer target);

    /** Reads shadow values at its own precision ({@link #precision()}), in the buffer's byte order. */
    void readExact(ByteBuffer source);

    /** Adds {@code sum((e - w)^2)} to {@code sums[0]} and {@code sum(w^2)} to {@code sums[1]}. */
    void accumulateDrift(ByteBuffer live, double[] sums);

    /** Shadow bytes held. */
    long bytes();

    /** The shadow values widened to double, a copy. */
    double[] toDoubleArray();

    static Shadow of(TensorSpec spec) {
        return spec.format() == WeightFormat.FLOAT64
                ? new DoubleShadow(spec.elementCount())
                : new FloatShadow(spec.elementCount(), spec.format());
    }
}
