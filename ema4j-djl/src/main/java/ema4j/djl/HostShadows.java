package ema4j.djl;

import ema4j.core.EmaClock;
import ema4j.core.EmaState;
import ema4j.core.TensorSpec;
import ema4j.core.UpdateResult;
import ema4j.core.WeightFormat;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.Callable;

/** Shadows in host memory: ema4j-core's {@link EmaState} over the live tensors' memory ({@link LiveTensors}). */
final class HostShadows implements ShadowStore {
    private final EmaState state;
    private final LiveTensors live;

    HostShadows(EmaState state, LiveTensors live) {
        this.state = state;
        this.live = live;
    }

    EmaState state() {
        return state;
    }

    @Override
    public List<TensorSpec> tensors() {
        return state.tensors();
    }

    @Override
    public EmaClock clock() {
        return state.clock();
    }

    @Override
    public UpdateResult update(int steps) {
        try {
            return state.update(live, steps);
        } finally {
            live.discardCopies();
        }
    }

    /** Fetches every tensor's buffer now, on the loop's thread; the task averages them. */
    @Override
    public Callable<UpdateResult> backgroundUpdate(int steps) {
        ByteBuffer[] buffers = new ByteBuffer[state.tensors().size()];
        try {
            for (int i = 0; i < buffers.length; i++) {
                buffers[i] = live.buffer(i);
            }
        } finally {
            live.discardCopies();
        }
        return () -> state.update(i -> buffers[i], steps);
    }

    @Override
    public void exchange() {
        state.exchange(live);
        live.writeBack();
    }

    @Override
    public void writeShadow(int index, ByteBuffer target) {
        state.writeShadow(index, target);
    }

    @Override
    public WeightFormat shadowPrecision(int index) {
        return state.shadowPrecision(index);
    }

    @Override
    public void writeShadowExact(int index, ByteBuffer target) {
        state.writeShadowExact(index, target);
    }

    @Override
    public double drift() {
        try {
            return state.drift(live);
        } finally {
            live.discardCopies();
        }
    }

    @Override
    public long shadowBytes() {
        return state.shadowBytes();
    }

    /** Nothing to free: the shadows are Java arrays. */
    @Override
    public void close() {}

    @Override
    public String toString() {
        return state.toString();
    }
}
