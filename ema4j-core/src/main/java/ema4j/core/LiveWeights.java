package ema4j.core;

import java.nio.ByteBuffer;

/**
 * Access to the live model's memory, one tensor at a time, in the order of the EMA's {@link TensorSpec}s.
 *
 * <p>The adapter for a framework returns a buffer over the tensor's own memory in native byte order (position 0,
 * limit the tensor's byte size), so that reads see the current weights and writes (when the EMA weights are swapped
 * in) change them. Buffers are used during the call that asked for them and never kept.
 */
@FunctionalInterface
public interface LiveWeights {
    /**
     * The live memory of tensor {@code index}.
     *
     * @param index position in the EMA's tensor list
     */
    ByteBuffer buffer(int index);

    /**
     * Whether {@link #buffer} may be called from several threads at once, each thread with indices of its own. An
     * update split over threads then has every thread fetch a share of the buffers before any of them averages;
     * worth it where fetching a buffer costs more than reading a field (a framework call per tensor). Default false:
     * every call comes from the thread that runs the update.
     */
    default boolean concurrentBuffers() {
        return false;
    }
}
