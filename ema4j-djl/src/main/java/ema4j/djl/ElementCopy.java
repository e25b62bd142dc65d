package ema4j.djl;

import ai.djl.ndarray.NDArray;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Copies tensor elements between buffers that may differ in byte order. */
final class ElementCopy {
    private ElementCopy() {}

    /**
     * Copies {@code source}'s remaining elements of {@code width} bytes into {@code target} from its position, each
     * buffer read or written in its own byte order; neither buffer's position moves.
     */
    static void copy(ByteBuffer source, ByteBuffer target, int width) {
        ByteBuffer out = target.duplicate().order(target.order());
        if (out.order() == source.order() || width == 1) {
            out.put(source.duplicate());
            return;
        }
        switch (width) {
            case 2 -> out.asShortBuffer().put(source.asShortBuffer());
            case 4 -> out.asIntBuffer().put(source.asIntBuffer());
            case 8 -> out.asLongBuffer().put(source.asLongBuffer());
            default -> throw new IllegalArgumentException("element width must be 1, 2, 4 or 8 bytes, was " + width);
        }
    }

    /** A little-endian copy of {@code array}'s values in its own data type, from wherever the engine holds them. */
    static ByteBuffer littleEndian(NDArray array) {
        int width = array.getDataType().getNumOfBytes();
        ByteBuffer values = ByteBuffer.allocate(Math.toIntExact(array.size() * width)).order(ByteOrder.LITTLE_ENDIAN);
        copy(array.toByteBuffer(false).order(ByteOrder.nativeOrder()), values, width);
        return values;
    }
}
