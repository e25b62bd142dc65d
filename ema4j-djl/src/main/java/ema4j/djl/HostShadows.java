package ema4j.djl;

import ema4j.core.internal.EmaClock;
import ema4j.core.EmaSnapshot;
import ema4j.core.EmaState;
import ema4j.core.TensorSpec;
import ema4j.core.UpdateResult;
import java.nio.ByteBuffer;
import java.util.List;

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

    @Override
    public void exchange() {
        state.exchange(live);
        live.writeBack();
    }

    @Override
    public void writeShadow(int index, ByteBuffer target) {
        state.writeShadow(state.tensors().get(index).name(), target);
    }

    @Override
    public EmaSnapshot snapshot() {
        return state.snapshot();
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

    /** Stops the update's threads; the shadows are Java arrays, left to the garbage collector. */
    @Override
    public void close() {
        state.close();
    }

    @Override
    public String toString() {
        return state.toString();
    }
}
