package ema4j.core;

import java.util.Locale;

/** The number format of a model's live weights; the shadow is float32, or float64 for float64 weights. */
public enum WeightFormat {
    /** IEEE binary16; shadow in float32. */
    FLOAT16(2),
    /** bfloat16 (the top half of a float32); shadow in float32. */
    BFLOAT16(2),
    /** IEEE binary32. */
    FLOAT32(4),
    /** IEEE binary64; shadow in float64. */
    FLOAT64(8);

    private final int bytes;

    WeightFormat(int bytes) {
        this.bytes = bytes;
    }

    /** Bytes of one live element. */
    public int bytesPerElement() {
        return bytes;
    }

    /** Bytes of one shadow element: 8 for float64 weights, 4 otherwise. */
    public int shadowBytesPerElement() {
        return this == FLOAT64 ? 8 : 4;
    }

    /** The name safetensors and PyTorch use for this format: F16, BF16, F32, F64. */
    public String safetensorsName() {
        return switch (this) {
            case FLOAT16 -> "F16";
            case BFLOAT16 -> "BF16";
            case FLOAT32 -> "F32";
            case FLOAT64 -> "F64";
        };
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
