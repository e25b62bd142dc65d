package ema4j.djl;

import java.nio.ByteBuffer;

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
}
