package ema4j.core;

import java.nio.ByteBuffer;

/**
 * Access to the live model's memory, one tensor at a time, in the order of the EMA's {@link TensorSpec}s.
 *
 * <p>The adapter for a framework returns a buffer over the tensor's own memory in native byte order (position 0,
 * limit the tensor's byte size), so that reads see the current weights and writes (when the EMA weights are swapped
 * in) change them. Buffers are used during the call that asked for them and never kept. Called from the thread that
 * runs the update only.
 */
@FunctionalInterface
public interface LiveWeights {
    /**
     * The live memory of tensor {@code index}.
     *
     * @param index position in the EMA's tensor list
     */
    ByteBuffer buffer(int index);
}
