package ema4j.io.safetensors;

import java.util.Arrays;

/**
 * One tensor as a safetensors header describes it: where its bytes are and how to read them.
 *
 * @param name the tensor's name, unique in its file
 * @param dtype the format's name for the element type: {@code F32}, {@code BF16}, {@code I64}, ...
 * @param shape the dimensions, row-major; empty for a scalar
 * @param byteOffset where the tensor's bytes begin, counted from the start of the file (not of the data section)
 * @param byteLength how many bytes it has: the element count times the dtype's size
 */
public record TensorEntry(String name, String dtype, long[] shape, long byteOffset, long byteLength) {
    /** Takes a private copy of the shape. */
    public TensorEntry {
        shape = shape.clone();
    }

    /** The dimensions, a fresh copy. */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorEntry t && t.name.equals(name) && t.dtype.equals(dtype)
                && Arrays.equals(t.shape, shape) && t.byteOffset == byteOffset && t.byteLength == byteLength;
    }

    @Override
    public int hashCode() {
        return (name.hashCode() * 31 + dtype.hashCode()) * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + " " + dtype + " " + Arrays.toString(shape) + " at " + byteOffset + " (" + byteLength + " bytes)";
    }
}
