package ema4j.djl;

import ema4j.core.internal.EmaClock;
import ema4j.core.EmaSnapshot;
import ema4j.core.TensorSpec;
import ema4j.core.UpdateResult;
import java.nio.ByteBuffer;
import java.util.List;

/**
 * The shadows of an {@link EmaModel} and the arithmetic that averages them, in host memory ({@link HostShadows}) or
 * on the model's device ({@link DeviceShadows}); see {@link ShadowPlacement}. Called from the training loop's thread.
 */
interface ShadowStore {
    /** The averaged tensors, in order. */
    List<TensorSpec> tensors();

    /** A copy of the counts and decay of the updates so far. */
    EmaClock clock();

    /** Averages the live weights in with the decay of {@code steps} optimizer steps compounded. */
    UpdateResult update(int steps);

    /** Exchanges shadows and live weights; a second call exchanges them back, bit-exactly. */
    void exchange();

    /** Writes tensor {@code index}'s shadow into {@code target} in the live format and the target's byte order. */
    void writeShadow(int index, ByteBuffer target);

    /** The schedule, counts and every shadow by name at its own precision. */
    EmaSnapshot snapshot();

    /** {@code |EMA - w| / |w|} in the L2 norm over all averaged tensors. */
    double drift();

    /** Bytes held by the shadows. */
    long shadowBytes();

    /** Stops the update's threads and frees what the shadows hold outside the Java heap; later updates fail. */
    void close();
}
