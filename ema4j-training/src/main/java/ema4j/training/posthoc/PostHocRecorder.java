package ema4j.training.posthoc;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import com.fasterxml.jackson.databind.JsonNode;
import ema4j.core.policy.ParameterPolicy;
import ema4j.core.policy.ParameterRule;
import ema4j.core.schedule.DecaySchedule;
import ema4j.core.schedule.PowerFunction;
import ema4j.djl.EmaModel;
import ema4j.djl.ParameterReport;
import ema4j.training.TrainingCheckpoint;
import ema4j.io.checkpoint.Checkpoint;
import ema4j.io.checkpoint.ScheduleCodec;
import ema4j.io.posthoc.Snapshot;
import ema4j.io.posthoc.SnapshotStore;
import java.io.IOException;
import java.math.BigDecimal;
import java.math.MathContext;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * Records post-hoc EMA snapshots during training (Karras et al., 2024, EDM2, Section 3.2): one power-function EMA per
 * sigma_rel beside the run's main EMA, stepped after every optimizer step, and every {@code every} steps the complete
 * EMA model of each (averaged weights, BatchNorm statistics as copied) written into a {@link SnapshotStore}, each
 * file recording which of its tensors the EMA averages. {@link PostHocEma} reconstructs EMAs of other lengths from
 * them.
 *
 * <p>The snapshot's profile time is the optimizer step, which is also the number of updates each EMA has seen: they
 * start with the run. Checkpoints carry the EMAs ({@link #checkpointed()}), so a resumed run ({@link #resume})
 * continues them exactly and rewrites the snapshots recorded after its checkpoint. Not thread-safe; call from the
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

    private PostHocRecorder(Block block, List<PowerFunction> schedules, List<EmaModel> emas, SnapshotStore store,
            int every) {
        this.block = block;
        this.store = store;
        this.every = every;
        this.schedules.addAll(schedules);
        this.emas.addAll(emas);
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
        List<PowerFunction> schedules = schedules(block, sigmaRels, every);
        SnapshotStore store = SnapshotStore.create(directory);
        // Profiles from two runs in one manifest would be combined as if they were one run's history.
        requireArgument(store.snapshots().isEmpty(), "--out", "a directory whose " + DIRECTORY
                + "/ holds no snapshots of an earlier run", directory.getParent() + " (" + store.snapshots().size()
                + " snapshots in " + directory + "; delete them or choose another --out)");
        List<EmaModel> emas = new ArrayList<>();
        for (PowerFunction schedule : schedules) {
            emas.add(builder(schedule).track(block));
        }
        return new PostHocRecorder(block, schedules, emas, store, every);
    }

    /**
     * Continues recording from a checkpoint written by a run that recorded with the same sigma_rels: resumes each
     * power-function EMA from the checkpoint, and forgets the snapshots that run recorded after the checkpoint's
     * step (the resumed run trains those steps again and records them anew).
     *
     * @param block the training block, its weights restored from {@code checkpoint}
     * @param sigmaRels the EMA lengths tracked, the same as the checkpoint's, in the same order
     * @param every record every this many steps, {@code >= 1} (may differ from the earlier run's)
     * @param directory the earlier run's snapshot directory
     * @param checkpoint the checkpoint resumed from
     * @param step the optimizer steps that checkpoint had taken
     */
    public static PostHocRecorder resume(Block block, List<Double> sigmaRels, int every, Path directory,
            Checkpoint checkpoint, long step) throws IOException {
        List<PowerFunction> schedules = schedules(block, sigmaRels, every);
        Map<String, JsonNode> saved = new LinkedHashMap<>(TrainingCheckpoint.additionalEmaSchedules(checkpoint));
        saved.keySet().removeIf(name -> !name.startsWith(CHECKPOINT_PREFIX));
        if (saved.isEmpty()) {
            throw new IllegalArgumentException("--posthoc-every must be absent to resume from " + checkpoint.directory()
                    + ", was " + every + " (that run recorded no post-hoc snapshots; resume without it, or start a"
                    + " new run)");
        }
        List<DecaySchedule> savedSchedules = saved.values().stream().map(ScheduleCodec::fromJson).toList();
        List<String> names = IntStream.range(0, schedules.size()).mapToObj(PostHocRecorder::checkpointName).toList();
        if (!savedSchedules.equals(schedules) || !List.copyOf(saved.keySet()).equals(names)) {
            List<String> savedSigmaRels = savedSchedules.stream().map(s -> s instanceof PowerFunction p
                    ? new BigDecimal(p.sigmaRel()).round(new MathContext(6)).stripTrailingZeros().toPlainString()
                    : s.toString()).toList();
            throw new IllegalArgumentException("--posthoc-sigma-rel must be the checkpoint's " + savedSigmaRels
                    + " to resume, was " + sigmaRels);
        }
        SnapshotStore store = SnapshotStore.create(directory);
        store.discardAfter(step);
        for (Snapshot snapshot : store.snapshots()) {
            boolean ours = schedules.stream().anyMatch(s -> s.gamma() == snapshot.gamma());
            if (!ours) {
                throw new IllegalArgumentException(directory + " holds " + snapshot.file() + " (sigma_rel "
                        + snapshot.sigmaRel() + "), which the checkpoint's EMAs did not record; resume into the"
                        + " run's own --out");
            }
        }
        List<EmaModel> emas = new ArrayList<>();
        for (int k = 0; k < schedules.size(); k++) {
            emas.add(TrainingCheckpoint.resumeAdditionalEma(checkpoint, checkpointName(k), builder(schedules.get(k)),
                    block));
        }
        return new PostHocRecorder(block, schedules, emas, store, every);
    }

    /**
     * A post-hoc EMA averages every trainable parameter, BatchNorm's gamma and beta too: a reconstruction is a linear
     * combination of snapshots, which reproduces an EMA only for tensors that are EMAs in every snapshot (a copied
     * tensor would come out as a mix of its live values at the snapshot times). Running statistics are copied and,
     * after reconstruction, recomputed ({@code --bn-batches}).
     */
    private static EmaModel.Builder builder(PowerFunction schedule) {
        return EmaModel.builder(schedule)
                .policy(ParameterPolicy.builder().batchNorm(ParameterPolicy.BatchNormRule.AVERAGE_AFFINE).build());
    }

    private static List<PowerFunction> schedules(Block block, List<Double> sigmaRels, int every) {
        requireArgument(every >= 1, "--posthoc-every", ">= 1", every);
        requireArgument(sigmaRels != null && !sigmaRels.isEmpty(), "--posthoc-sigma-rel", "at least one value",
                sigmaRels);
        for (Pair<String, Parameter> p : block.getParameters()) {
            DataType type = p.getValue().getArray().getDataType();
            requireArgument(type == DataType.FLOAT32, "parameter " + p.getKey(), "float32 for post-hoc snapshots",
                    type);
        }
        return sigmaRels.stream().map(PowerFunction::ofSigmaRel).toList();
    }

    /** The tracked EMAs by the names a checkpoint keeps them under, for {@code TrainingCheckpoint.contents}. */
    public Map<String, EmaModel> checkpointed() {
        Map<String, EmaModel> named = new LinkedHashMap<>();
        for (int i = 0; i < emas.size(); i++) {
            named.put(checkpointName(i), emas.get(i));
        }
        return named;
    }

    private static final String CHECKPOINT_PREFIX = "posthoc-ema";

    private static String checkpointName(int i) {
        return CHECKPOINT_PREFIX + i;
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

    /** The EMA model's tensors, each marked averaged or copied as the EMA's own rules say. */
    private List<SnapshotStore.Float32Tensor> emaTensors(EmaModel ema) {
        Set<String> averaged = ema.parameters().stream().filter(p -> p.rule() == ParameterRule.AVERAGE)
                .map(ParameterReport::name).collect(Collectors.toSet());
        List<SnapshotStore.Float32Tensor> tensors = new ArrayList<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            NDArray live = p.getValue().getArray();
            ByteBuffer data = ByteBuffer.allocate(Math.toIntExact(live.size() * 4)).order(ByteOrder.LITTLE_ENDIAN);
            ema.readEmaWeight(p.getKey(), data);
            tensors.add(new SnapshotStore.Float32Tensor(p.getKey(), live.getShape().getShape(), data,
                    averaged.contains(p.getKey())));
        }
        return tensors;
    }

    @Override
    public String toString() {
        return "PostHocRecorder{every=" + every + ", schedules=" + schedules + ", store=" + store.directory() + "}";
    }
}
