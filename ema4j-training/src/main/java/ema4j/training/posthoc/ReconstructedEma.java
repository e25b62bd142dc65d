package ema4j.training.posthoc;

import static ema4j.core.internal.Preconditions.requireArgument;
import static ema4j.core.internal.Preconditions.requireState;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import ema4j.core.posthoc.Reconstruction;
import ema4j.io.posthoc.Snapshot;
import ema4j.io.posthoc.SnapshotFormatException;
import ema4j.io.posthoc.SnapshotStore;
import ema4j.io.posthoc.SnapshotStore.Float32Tensor;
import ema4j.io.safetensors.SafetensorsFile;
import ema4j.io.safetensors.SafetensorsFormatException;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * One post-hoc EMA, solved by {@link PostHocEma}: the {@link Reconstruction} (weights, residual, amplification,
 * condition number) and the snapshots it weights, ready to be added up into the EMA model's tensors.
 *
 * <p>Nothing is read or written until {@link #write}, {@link #loadInto} or {@link #errorAgainstTracked} is called;
 * each of them adds the snapshots up anew (one snapshot file at a time, in double precision, rounded once to float32)
 * and gets the same tensors, bit for bit. Immutable and thread-safe while no recorder writes into the directory.
 */
public final class ReconstructedEma {
    private static final int SHOWN = 5;

    private final SnapshotStore store;
    private final List<Snapshot> snapshots;
    private final Reconstruction reconstruction;
    private final long step;
    private final List<String> averaged;

    ReconstructedEma(SnapshotStore store, List<Snapshot> snapshots, Reconstruction reconstruction, long step,
            List<String> averaged) {
        this.store = store;
        this.snapshots = List.copyOf(snapshots);
        this.reconstruction = reconstruction;
        this.step = step;
        this.averaged = List.copyOf(averaged);
    }

    /**
     * The relative L2 error {@code ||reconstructed - tracked|| / ||tracked||} of a reconstruction against the EMA of
     * the same length tracked directly at the same step.
     *
     * @param tracked the snapshot of the directly tracked EMA
     * @param averagedTensors the error over the averaged tensors (the recorded rules), the measure of the method
     * @param allTensors the error over every tensor, copied ones (e.g. BatchNorm running statistics) included
     */
    public record TrackedError(Snapshot tracked, double averagedTensors, double allTensors) {}

    /** The solved least-squares fit: target profile, weights (paired with {@link #snapshots()}) and statistics. */
    public Reconstruction reconstruction() {
        return reconstruction;
    }

    /** The snapshots combined, in the order of {@code reconstruction().weights()}. */
    public List<Snapshot> snapshots() {
        return snapshots;
    }

    /** The training step reconstructed at. */
    public long step() {
        return step;
    }

    /** The names of the tensors that are EMAs, as the snapshots recorded them; the others are combined copies. */
    public List<String> averaged() {
        return averaged;
    }

    /**
     * The header entries {@link #write} puts in the file, in order: the target's sigma_rel and gamma, the step and
     * the residual (the list of averaged tensors is added under {@link SnapshotStore#AVERAGED_KEY}).
     */
    public Map<String, String> metadata() {
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("sigma_rel", Double.toString(reconstruction.target().sigmaRel()));
        metadata.put("gamma", Double.toString(reconstruction.target().gamma()));
        metadata.put("step", Long.toString(step));
        metadata.put("residual", Double.toString(reconstruction.residual()));
        return metadata;
    }

    /**
     * Writes the reconstructed EMA model as a float32 safetensors file, atomically, with {@link #metadata()} and the
     * averaged tensors' names in its header; tensors in the model's order.
     *
     * @param file the file to create or replace
     * @throws SnapshotFormatException when a snapshot file is damaged or the snapshots do not hold the same tensors
     * @throws IOException when the file system fails
     */
    public void write(Path file) throws IOException {
        requireArgument(file != null, "file", "non-null", null);
        store.combine(snapshots, reconstruction.weights(), metadata(), file);
    }

    /**
     * Copies the reconstructed EMA model into {@code block}'s parameters, matched by name; nothing is copied unless
     * every parameter of the block has a tensor of its shape and no tensor is left over.
     *
     * @param block an initialized block whose parameters are float32, e.g. a fresh copy of the trained architecture
     * @return how many parameters were loaded: all of the block's
     * @throws IllegalArgumentException when names or shapes differ, listing the missing, the unexpected and the
     *     different in one message
     * @throws IllegalStateException when the block is not initialized
     * @throws SnapshotFormatException when a snapshot file is damaged
     * @throws IOException when the file system fails
     */
    public int loadInto(Block block) throws IOException {
        requireArgument(block != null, "block", "non-null", null);
        Map<String, Parameter> parameters = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            requireState(p.getValue().isInitialized(), "the block must be initialized before loading a post-hoc EMA;"
                    + " parameter " + p.getKey() + " is not");
            parameters.put(p.getKey(), p.getValue());
        }
        Map<String, Float32Tensor> tensors = new LinkedHashMap<>();
        for (Float32Tensor tensor : store.combined(snapshots, reconstruction.weights())) {
            tensors.put(tensor.name(), tensor);
        }
        requireMatch(parameters, tensors);
        for (Map.Entry<String, Parameter> p : parameters.entrySet()) {
            p.getValue().getArray().set(floats(tensors.get(p.getKey())));
        }
        return parameters.size();
    }

    private static void requireMatch(Map<String, Parameter> parameters, Map<String, Float32Tensor> tensors) {
        List<String> missing = new ArrayList<>();
        List<String> different = new ArrayList<>();
        for (Map.Entry<String, Parameter> p : parameters.entrySet()) {
            Float32Tensor tensor = tensors.get(p.getKey());
            NDArray array = p.getValue().getArray();
            if (tensor == null) {
                missing.add(p.getKey());
            } else if (array.getDataType() != DataType.FLOAT32
                    || !Arrays.equals(array.getShape().getShape(), tensor.shape())) {
                different.add(p.getKey() + " is float32 " + Arrays.toString(tensor.shape()) + ", the block's "
                        + array.getDataType() + " " + Arrays.toString(array.getShape().getShape()));
            }
        }
        List<String> unexpected = tensors.keySet().stream().filter(n -> !parameters.containsKey(n)).toList();
        List<String> problems = new ArrayList<>();
        describe(problems, "missing", missing);
        describe(problems, "unexpected", unexpected);
        describe(problems, "different", different);
        requireArgument(problems.isEmpty(), "the block's " + parameters.size() + " parameters",
                "the post-hoc EMA's " + tensors.size() + " tensors by name, shape and dtype",
                String.join("; ", problems));
    }

    private static void describe(List<String> problems, String kind, List<String> names) {
        if (!names.isEmpty()) {
            String shown = String.join(", ", names.subList(0, Math.min(SHOWN, names.size())));
            problems.add(kind + " " + names.size() + ": [" + shown + (names.size() > SHOWN ? ", ..." : "") + "]");
        }
    }

    /** The EMA of this length tracked directly at this step, when the recorder tracked it (excluded or not). */
    public Optional<Snapshot> tracked() {
        return store.snapshots().stream().filter(s -> s.step() == step
                && PostHocEma.sameLength(s.gamma(), reconstruction.target().gamma())).findFirst();
    }

    /**
     * The relative L2 error of this reconstruction against the EMA tracked directly at this length and step, over
     * the averaged tensors and over all; empty when that length was not tracked. Reconstructing a tracked length with
     * its own snapshots excluded ({@link PostHocEma.Builder#excludeSigmaRels}) measures the method.
     *
     * @throws SnapshotFormatException when a snapshot file is damaged or the tracked snapshot lacks a tensor
     * @throws IOException when the file system fails
     */
    public Optional<TrackedError> errorAgainstTracked() throws IOException {
        Optional<Snapshot> tracked = tracked();
        if (tracked.isEmpty()) {
            return Optional.empty();
        }
        Path path = store.pathOf(tracked.get());
        double[] averagedSums = new double[2];   // squared difference, squared norm
        double[] allSums = new double[2];
        try (SafetensorsFile direct = SafetensorsFile.open(path)) {
            for (Float32Tensor tensor : store.combined(snapshots, reconstruction.weights())) {
                if (direct.find(tensor.name()).filter(t -> Arrays.equals(t.shape(), tensor.shape())).isEmpty()) {
                    throw new SnapshotFormatException(path, "the tracked EMA must hold every reconstructed tensor in"
                            + " its shape, was missing " + tensor.name() + " " + Arrays.toString(tensor.shape()));
                }
                FloatBuffer x = floats(tensor);
                FloatBuffer y = direct.read(tensor.name()).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
                for (int i = 0; i < y.limit(); i++) {
                    double difference = (double) x.get(i) - y.get(i);
                    double value = y.get(i);
                    allSums[0] += difference * difference;
                    allSums[1] += value * value;
                    if (tensor.averaged()) {
                        averagedSums[0] += difference * difference;
                        averagedSums[1] += value * value;
                    }
                }
            }
        } catch (SafetensorsFormatException e) {
            throw new SnapshotFormatException(path, e.getMessage(), e);
        }
        return Optional.of(new TrackedError(tracked.get(), Math.sqrt(averagedSums[0] / averagedSums[1]),
                Math.sqrt(allSums[0] / allSums[1])));
    }

    private static FloatBuffer floats(Float32Tensor tensor) {
        return tensor.data().duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    }

    @Override
    public String toString() {
        return "ReconstructedEma{step=" + step + ", " + reconstruction + "}";
    }
}
