package ema4j.core;

import java.nio.ByteBuffer;

/**
 * The averaged values of one tensor and the arithmetic on them, one implementation per shadow width. Live weights
 * come as buffers in the live format and the buffer's byte order, element 0 at position 0.
 */
sealed interface Shadow permits FloatShadow, DoubleShadow {
    /** Overwrites the shadow with the live values. */
    void copyFrom(ByteBuffer live);

    /**
     * Averages the live values of elements {@code [from, to)} in with the shadow's {@link Arithmetic}. Each weight is
     * checked for NaN and infinity as it is averaged, so the check costs no second pass over the model.
     *
     * @return -1 when every element was averaged; else the index of the first non-finite live value, with the
     *     elements before it averaged and it and those after it untouched
     */
    int average(ByteBuffer live, double decay, int from, int to);

    /**
     * Sets elements {@code [from, to)}, which {@link #average} has just averaged with these live values and decay,
     * back to their earlier value by inverting the update, within its rounding (see {@link NonFinitePolicy}).
     */
    void undoAverage(ByteBuffer live, double decay, int from, int to);

    /** The index of the first NaN or infinite live value, or -1. */
    int firstNonFinite(ByteBuffer live);

    /**
     * Exchanges shadow and live values; a second call exchanges them back bit-exactly. For 16-bit live formats the
     * live bits are kept aside while swapped, since a float32 shadow cannot hold them and get them back.
     */
    void exchange(ByteBuffer live);

    /** Writes the shadow into {@code target} in the live format, rounding to nearest even where narrower. */
    void writeTo(ByteBuffer target);

    /** The shadow's own format: float32, or float64 for float64 weights. */
    WeightFormat precision();

    /** Writes the shadow at its own precision ({@link #precision()}), in the buffer's byte order. */
    void writeExact(ByteBuffer target);

    /** Reads the shadow at its own precision ({@link #precision()}), in the buffer's byte order. */
    void readExact(ByteBuffer source);

    /** Adds {@code sum((e - w)^2)} to {@code sums[0]} and {@code sum(w^2)} to {@code sums[1]}. */
    void accumulateDrift(ByteBuffer live, double[] sums);

    /** Shadow bytes held. */
    long bytes();

    /** The shadow values widened to double, a copy. */
    double[] toDoubleArray();

    static Shadow of(TensorSpec spec, Arithmetic arithmetic) {
        return spec.format() == WeightFormat.FLOAT64
                ? new DoubleShadow(spec.elementCount(), arithmetic)
                : new FloatShadow(spec.elementCount(), spec.format(), arithmetic);
    }
}
