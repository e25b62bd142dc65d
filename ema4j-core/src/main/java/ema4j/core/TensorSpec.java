package ema4j.core;

import static ema4j.core.internal.Preconditions.requireArgument;

import java.util.Arrays;

/**
 * The name, shape and number format of one tensor the EMA averages.
 *
 * @param name the tensor's stable name in its model
 * @param shape its dimensions, each {@code >= 0}; the element count must fit a Java array
 * @param format the live weights' number format
 */
public record TensorSpec(String name, long[] shape, WeightFormat format) {
    /** Validates name, shape and format and takes a private copy of the shape. */
    public TensorSpec {
        requireArgument(name != null && !name.isBlank(), "name", "a non-blank string", name);
        requireArgument(shape != null, "shape of " + name, "non-null", null);
        requireArgument(format != null, "format of " + name, "non-null", null);
        shape = shape.clone();
        long count = 1;
        for (long dim : shape) {
            requireArgument(dim >= 0, "every dimension of " + name, ">= 0", Arrays.toString(shape));
            count = Math.multiplyExact(count, dim);
        }
        requireArgument(count <= Integer.MAX_VALUE - 8, "element count of " + name, "<= 2^31 - 9", count);
    }

    /** The number of elements, the product of the shape. */
    public int elementCount() {
        long count = 1;
        for (long dim : shape) {
            count *= dim;
        }
        return (int) count;
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    /** The shape as {@code (a, b, c)}. */
    public String shapeText() {
        StringBuilder s = new StringBuilder("(");
        for (int i = 0; i < shape.length; i++) {
            s.append(i == 0 ? "" : ", ").append(shape[i]);
        }
        return s.append(')').toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorSpec t && t.name.equals(name) && Arrays.equals(t.shape, shape) && t.format == format;
    }

    @Override
    public int hashCode() {
        return 31 * (31 * name.hashCode() + Arrays.hashCode(shape)) + format.hashCode();
    }

    @Override
    public String toString() {
        return name + " " + shapeText() + " " + format;
    }
}
