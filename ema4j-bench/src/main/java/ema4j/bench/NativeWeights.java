package ema4j.bench;

import ema4j.core.TensorSpec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Live weights in Java direct buffers, laid out as DJL's PyTorch engine hands tensors out: native byte order, each
 * tensor 64-byte aligned (as PyTorch's CPU allocator aligns them), values uniform in [-1, 1).
 */
final class NativeWeights {
    private NativeWeights() {}

    /** One buffer per tensor, position 0 and limit the tensor's byte size. */
    static ByteBuffer[] random(List<TensorSpec> tensors, SplittableRandom random) {
        ByteBuffer[] buffers = new ByteBuffer[tensors.size()];
        for (int i = 0; i < buffers.length; i++) {
            int n = tensors.get(i).elementCount();
            ByteBuffer aligned = ByteBuffer.allocateDirect(4 * n + 128).alignedSlice(64);
            buffers[i] = aligned.limit(4 * n).slice().order(ByteOrder.nativeOrder());
            for (int k = 0; k < n; k++) {
                buffers[i].putFloat(4 * k, (float) random.nextDouble(-1, 1));
            }
        }
        return buffers;
    }
}
