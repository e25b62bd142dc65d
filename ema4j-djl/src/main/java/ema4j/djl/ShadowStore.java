package ema4j.djl;

import ema4j.core.EmaClock;
import ema4j.core.TensorSpec;
import ema4j.core.UpdateResult;
import ema4j.core.WeightFormat;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.Callable;

/**
 * The shadows of an {@link EmaModel} and the arithmetic that averages them, in host memory ({@link HostShadows}) or
 * on the model's device ({@link DeviceShadows}); see {@link ShadowPlacement}. Every method but
 * {@link #backgroundUpdate}'s task runs on the training loop's thread.
 */
interface ShadowStore {
    /** The averaged tensors, in order. */
    List<TensorSpec> tensors();

    /** A copy of the counts and decay of the updates so far. */
    EmaClock clock();

    /** Averages the live weights in with the decay of {@code steps} optimizer steps compounded. */
    UpdateResult update(int steps);

    /**
     * The same update, to run on another thread while the next forward and backward passes only read the weights:
     * whatever must happen on this thread (fetching the weights' memory) is done before returning.
     */
    Callable<UpdateResult> backgroundUpdate(int steps);

    /** Exchanges shadows and live weights; a second call exchanges them back, bit-exactly. */
    void exchange();

    /** Writes tensor {@code index}'s shadow into {@code target} in the live format and the target's byte order. */
    void writeShadow(int index, ByteBuffer target);

    /** The precision tensor {@code index}'s shadow is held at: float32, or float64 for float64 weights. */
    WeightFormat shadowPrecision(int index);

    /** Writes tensor {@code index}'s shadow at its own precision, in the target's byte order. */
    void writeShadowExact(int index, ByteBuffer target);

    /** {@code |EMA - w| / |w|} in the L2 norm over all averaged tensors. */
    double drift();

    /** Bytes held by the shadows. */
    long shadowBytes();

    /** Frees what the shadows hold outside the Java heap; later calls fail. */
    void close();
}
