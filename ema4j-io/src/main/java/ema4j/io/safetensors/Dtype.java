package ema4j.io.safetensors;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * The element types the safetensors format names, with their sizes; the writer and the reader share this one table.
 *
 * <p>Package-private: the public API speaks the format's own strings ({@code "F32"}, {@code "BF16"}).
 */
enum Dtype {
    BOOL(1), U8(1), I8(1), F8_E5M2(1), F8_E4M3(1),
    I16(2), U16(2), F16(2), BF16(2),
    I32(4), U32(4), F32(4),
    I64(8), U64(8), F64(8);

    private static final Map<String, Dtype> BY_NAME = new HashMap<>();

    static {
        for (Dtype dtype : values()) {
            BY_NAME.put(dtype.name(), dtype);
        }
    }

    private final int bytes;

    Dtype(int bytes) {
        this.bytes = bytes;
    }

    /** The dtype the format spells {@code name}, or null when the format has no such dtype. */
    static Dtype named(String name) {
        return BY_NAME.get(name);
    }

    /** The names the format knows, for error messages. */
    static String knownNames() {
        return Arrays.toString(values());
    }

    /**
     * Bytes of a row-major tensor of this dtype and {@code shape} (every dimension already {@code >= 0}).
     *
     * @throws ArithmeticException when the element count or the byte count overflows a long
     */
    long byteLength(long[] shape) {
        long count = 1;
        for (long dim : shape) {
            count = Math.multiplyExact(count, dim);
        }
        return Math.multiplyExact(count, (long) bytes);
    }
}
