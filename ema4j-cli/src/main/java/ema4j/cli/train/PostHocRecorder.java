package ema4j.cli.train;

import static ema4j.core.Preconditions.requireArgument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import ema4j.core.schedule.PowerFunction;
import ema4j.djl.EmaModel;
import ema4j.io.posthoc.SnapshotStore;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Records post-hoc EMA snapshots during training (Karras et al., 2024, EDM2, Section 3.2): one power-function EMA per
 * sigma_rel beside the run's main EMA, stepped after every optimizer step, and every {@code every} steps the complete
 * EMA model of each (averaged weights, BatchNorm statistics as copied) written into a {@link SnapshotStore}.
 *
 * <p>The snapshot's profile time is the optimizer step, which is also the number of updates each EMA has seen: they
 * start with the run, so resuming a run (which would restart them) is not supported. Not thread-safe; call from the
 * training loop.
 */
public final class PostHocRecorder {
    /** Directory under the output directory holding the snapshots. */
    public static final String DIRECTORY = "posthoc";

    private final Block block;
    private final List<EmaModel> emas = new ArrayList<>();
    private final List<PowerFunction> schedules = new ArrayList<>();
    private final SnapshotStore store;
    private final int every;

    private PostHocRecorder(Block block, List<Double> sigmaRels, SnapshotStore store, int every) {
        this.block = block;
        this.store = store;
        this.every = every;
        for (double sigmaRel : sigmaRels) {
            PowerFunction schedule = PowerFunction.ofSigmaRel(sigmaRel);
            schedules.add(schedule);
            emas.add(EmaModel.builder(schedule).track(block));
        }
    }

    /**
     * Starts tracking {@code block} with one power-function EMA per sigma_rel, recording into {@code directory}.
     *
     * @param block the initialized training block, every parameter float32
     * @param sigmaRels the EMA lengths tracked, each in {@code (0, 0.3]}, at least one
     * @param every record a snapshot of each EMA every this many steps, {@code >= 1}
     * @param directory the snapshot directory, created if missing; it must hold no snapshots yet
     */
    public static PostHocRecorder start(Block block, List<Double> sigmaRels, int every, Path directory)
            throws IOException {
        requireArgument(every >= 1, "--posthoc-every", ">= 1", every);
        requireArgument(sigmaRels != null && !sigmaRels.isEmpty(), "--posthoc-sigma-rel", "at least one value",
                sigmaRels);
        for (Pair<String, Parameter> p : block.getParameters()) {
            DataType type = p.getValue().getArray().getDataType();
            requireArgument(type == DataType.FLOAT32, "parameter " + p.getKey(), "float32 for post-hoc snapshots",
                    type);
        }
        SnapshotStore store = SnapshotStore.create(directory);
        // Profiles from two runs in one manifest would be combined as if they were one run's history.
        requireArgument(store.snapshots().isEmpty(), "--out", "a directory whose " + DIRECTORY
                + "/ holds no snapshots of an earlier run", directory.getParent() + " (" + store.snapshots().size()
                + " snapshots in " + directory + "; delete them or choose another --out)");
        return new PostHocRecorder(block, sigmaRels, store, every);
    }

    /** Updates every tracked EMA with the block's current weights; call once after each optimizer step. */
    public void step() {
        for (EmaModel ema : emas) {
            ema.step();
        }
    }

    /**
     * Writes a snapshot of every tracked EMA when {@code step} is a multiple of the interval (or {@code force}).
     *
     * @param step the optimizer steps taken so far, equal to the updates each EMA has seen
     * @param force record even off the interval, e.g. at the last step
     * @return whether snapshots were written
     */
    public boolean recordIfDue(long step, boolean force) throws IOException {
        if (step < 1 || (!force && step % every != 0)) {
            return false;
        }
        for (int i = 0; i < emas.size(); i++) {
            store.save(step, schedules.get(i).gamma(), emaTensors(emas.get(i)));
        }
        return true;
    }

    /** The snapshot store written to. */
    public SnapshotStore store() {
        return store;
    }

    private List<SnapshotStore.Float32Tensor> emaTensors(EmaModel ema) {
        List<SnapshotStore.Float32Tensor> tensors = new ArrayList<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            NDArray live = p.getValue().getArray();
            ByteBuffer data = ByteBuffer.allocate(Math.toIntExact(live.size() * 4)).order(ByteOrder.LITTLE_ENDIAN);
            ema.readEmaWeight(p.getKey(), data);
            tensors.add(new SnapshotStore.Float32Tensor(p.getKey(), live.getShape().getShape(), data));
        }
        return tensors;
    }

    @Override
    public String toString() {
        return "PostHocRecorder{every=" + every + ", schedules=" + schedules + ", store=" + store.directory() + "}";
    }
}
