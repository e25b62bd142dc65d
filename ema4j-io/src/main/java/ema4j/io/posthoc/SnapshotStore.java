package ema4j.io.posthoc;

import static ema4j.core.internal.Preconditions.requireArgument;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import ema4j.core.posthoc.PowerFunctionProfile;
import ema4j.io.AtomicFiles;
import ema4j.io.safetensors.SafetensorsFile;
import ema4j.io.safetensors.SafetensorsFormatException;
import ema4j.io.safetensors.SafetensorsWriter;
import ema4j.io.safetensors.TensorEntry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A directory of post-hoc EMA snapshots: one float32 safetensors file per (step, tracked EMA) and the manifest
 * {@code snapshots.json} that lists each with its step, gamma, sigma_rel and SHA-256 (Karras et al., 2024, EDM2,
 * Section 3.2).
 *
 * <p>Each snapshot file records which of its tensors are EMAs and which were copied from the live model: the header
 * entry {@value #AVERAGED_KEY} holds the JSON list of the averaged tensors' names, as the EMA's own rules said when it
 * was recorded. Only those are true power-function EMAs, so only those does a reconstruction reproduce; everything
 * that needs to know reads it from there, never from the names. Format 1 directories (before that entry) are refused.
 *
 * <p>Every file is written atomically ({@link AtomicFiles}) and the manifest is rewritten atomically after each
 * snapshot file, so a run killed at any moment leaves a manifest that lists only complete files. Readers take the
 * snapshots from the manifest alone; file names are for people. Snapshots are float32 always: post-hoc
 * reconstruction subtracts nearly equal snapshots with large weights of both signs, which half precision cannot
 * carry.
 *
 * <p>{@link #combine} adds snapshots up reading one file at a time, so its memory is one model in double precision
 * plus one in float32, whatever the number of snapshots. Not thread-safe: one writer per directory.
 */
public final class SnapshotStore {
    /** The manifest's file name in a snapshot directory. */
    public static final String MANIFEST_FILE = "snapshots.json";
    /** The manifest format this library writes and reads. */
    public static final int FORMAT_VERSION = 2;
    /** The header entry of snapshot and combined files that lists the averaged tensors, a JSON array of names. */
    public static final String AVERAGED_KEY = "ema4j.averaged";

    private static final String DTYPE = "F32";
    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(DeserializationFeature.FAIL_ON_MISSING_CREATOR_PROPERTIES)
            .enable(SerializationFeature.INDENT_OUTPUT);

    private final Path directory;
    private final List<Snapshot> snapshots;

    private SnapshotStore(Path directory, List<Snapshot> snapshots) {
        this.directory = directory;
        this.snapshots = new ArrayList<>(snapshots);
    }

    /**
     * A store for recording into {@code directory}, created if missing; snapshots an earlier run listed in its
     * manifest stay listed, so a resumed run appends to them.
     *
     * @throws SnapshotFormatException when an existing manifest is damaged
     * @throws IOException when the file system fails
     */
    public static SnapshotStore create(Path directory) throws IOException {
        requireArgument(directory != null, "directory", "non-null", null);
        Files.createDirectories(directory);
        return Files.exists(directory.resolve(MANIFEST_FILE)) ? open(directory)
                : new SnapshotStore(directory, List.of());
    }

    /**
     * Opens an existing store for reading (or further recording).
     *
     * @throws SnapshotFormatException when the directory has no manifest, the manifest is damaged, or a file it
     *     lists is missing
     * @throws IOException when the file system fails
     */
    public static SnapshotStore open(Path directory) throws IOException {
        requireArgument(directory != null, "directory", "non-null", null);
        Path manifestFile = directory.resolve(MANIFEST_FILE);
        if (!Files.isRegularFile(manifestFile)) {
            throw new SnapshotFormatException(directory, "no " + MANIFEST_FILE + "; this is not a snapshot directory"
                    + " (record one with train --posthoc-every N)");
        }
        SnapshotManifest manifest;
        try {
            manifest = JSON.readValue(manifestFile.toFile(), SnapshotManifest.class);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            // a field the record refuses (a file name outside the directory, a step < 1) says why in its own words
            String why = e.getCause() instanceof IllegalArgumentException refused ? refused.getMessage()
                    : e.getOriginalMessage();
            throw new SnapshotFormatException(manifestFile, "unreadable manifest: " + why, e);
        }
        if (manifest != null && manifest.formatVersion() == 1) {
            throw new SnapshotFormatException(manifestFile, "formatVersion must be " + FORMAT_VERSION + ", was 1: these"
                    + " snapshots do not record which tensors are averaged, so they cannot be reconstructed; record"
                    + " them again with this version (train --posthoc-every N)");
        }
        if (manifest == null || manifest.formatVersion() != FORMAT_VERSION || manifest.snapshots() == null) {
            throw new SnapshotFormatException(manifestFile, "formatVersion must be " + FORMAT_VERSION
                    + " with a list of snapshots, was " + (manifest == null ? "empty" : manifest.formatVersion()));
        }
        for (Snapshot snapshot : manifest.snapshots()) {
            if (!Files.isRegularFile(directory.resolve(snapshot.file()))) {
                throw new SnapshotFormatException(directory, "the manifest lists " + snapshot.file()
                        + " but the file is missing");
            }
        }
        return new SnapshotStore(directory, manifest.snapshots());
    }

    /**
     * One float32 tensor of a snapshot.
     *
     * @param name the parameter's name, unique within the snapshot
     * @param shape its dimensions
     * @param data exactly {@code elements * 4} remaining bytes, little-endian float32; not changed
     * @param averaged whether the tensor is an EMA ({@code ParameterRule.AVERAGE}) rather than copied
     */
    public record Float32Tensor(String name, long[] shape, ByteBuffer data, boolean averaged) {
        /** Takes a private copy of the shape. */
        public Float32Tensor {
            requireArgument(shape != null, "shape of " + name, "non-null", null);
            shape = shape.clone();
        }

        /** The dimensions, a fresh copy. */
        @Override
        public long[] shape() {
            return shape.clone();
        }
    }

    /**
     * Records one snapshot: writes its file atomically, then rewrites the manifest atomically. A snapshot of the same
     * step and gamma recorded before is replaced.
     *
     * @param step the optimizer steps taken so far, {@code >= 1}
     * @param gamma the power-function exponent of the EMA, {@code > -1}
     * @param tensors every tensor of the EMA model, in the model's order, names unique, each saying whether the EMA
     *     averages it
     * @return the manifest's entry for it
     * @throws IOException when the file system fails; the manifest then still lists only complete files
     */
    public Snapshot save(long step, double gamma, List<Float32Tensor> tensors) throws IOException {
        requireArgument(step >= 1, "step", ">= 1", step);
        double sigmaRel = PowerFunctionProfile.sigmaRel(gamma);
        requireArgument(tensors != null && !tensors.isEmpty(), "tensors", "non-empty", tensors);
        String file = String.format(Locale.ROOT, "snapshot-%012d-ema%d.safetensors", step, emaIndex(gamma));
        Map<String, String> metadata = new LinkedHashMap<>();
        metadata.put("step", Long.toString(step));
        metadata.put("gamma", Double.toString(gamma));
        metadata.put("sigma_rel", Double.toString(sigmaRel));
        Path path = directory.resolve(file);
        write(tensors, metadata, path);
        Snapshot snapshot = new Snapshot(file, step, gamma, sigmaRel, sha256(path));
        snapshots.removeIf(s -> s.file().equals(file));
        snapshots.add(snapshot);
        writeManifest();
        return snapshot;
    }

    /**
     * Forgets the snapshots recorded after {@code step}, as a run resumed from its checkpoint at {@code step} must:
     * they belong to steps it is about to train again. Rewrites the manifest without them (atomically), then
     * deletes their files; a crash in between leaves files no manifest lists, which nothing reads.
     *
     * @param step the last step whose snapshots are kept, {@code >= 0}
     * @return the snapshots discarded
     * @throws IOException when the file system fails
     */
    public List<Snapshot> discardAfter(long step) throws IOException {
        requireArgument(step >= 0, "step", ">= 0", step);
        List<Snapshot> discarded = snapshots.stream().filter(s -> s.step() > step).toList();
        if (!discarded.isEmpty()) {
            snapshots.removeAll(discarded);
            writeManifest();
            for (Snapshot s : discarded) {
                Path path = pathOf(s);
                // only the file this store wrote: one changed since (its hash differs) is left where it is
                if (Files.isRegularFile(path) && sha256(path).equals(s.sha256())) {
                    Files.delete(path);
                }
            }
        }
        return discarded;
    }

    private void writeManifest() throws IOException {
        byte[] manifest = JSON.writeValueAsBytes(new SnapshotManifest(FORMAT_VERSION, snapshots));
        AtomicFiles.write(directory.resolve(MANIFEST_FILE), channel -> {
            ByteBuffer bytes = ByteBuffer.wrap(manifest);
            while (bytes.hasRemaining()) {
                channel.write(bytes);
            }
        });
    }

    /** The recorded snapshots in the order they were recorded (an unmodifiable copy). */
    public List<Snapshot> snapshots() {
        return List.copyOf(snapshots);
    }

    /** The snapshots recorded at or before {@code step}, in recorded order. */
    public List<Snapshot> snapshotsUpTo(long step) {
        return snapshots.stream().filter(s -> s.step() <= step).toList();
    }

    /** The store's directory. */
    public Path directory() {
        return directory;
    }

    /** Where {@code snapshot}'s tensors are. */
    public Path pathOf(Snapshot snapshot) {
        return directory.resolve(snapshot.file());
    }

    /**
     * Writes {@code sum_i weights[i] * snapshot_i} as one float32 safetensors file, atomically, with the snapshots'
     * list of averaged tensors ({@value #AVERAGED_KEY}); see {@link #combined(List, double[])} for how it is added up.
     *
     * @param chosen snapshots of this store, at least one
     * @param weights one finite weight per snapshot, e.g. {@code Reconstruction.weights()}
     * @param metadata written into the output's header (e.g. the target sigma_rel), in the map's order
     * @param out the file to create or replace
     * @throws SnapshotFormatException as {@link #combined(List, double[])}
     * @throws IOException when the file system fails
     */
    public void combine(List<Snapshot> chosen, double[] weights, Map<String, String> metadata, Path out)
            throws IOException {
        write(combined(chosen, weights), metadata, out);
    }

    /**
     * Adds up {@code sum_i weights[i] * snapshot_i} in memory: reads one snapshot file at a time, accumulates in double
     * precision and rounds once to float32, so the tensors equal those {@link #combine} writes, bit for bit. Tensors
     * are paired by name and returned in the first snapshot's order, each averaged as the snapshots record it.
     *
     * @param chosen snapshots of this store, at least one
     * @param weights one finite weight per snapshot, e.g. {@code Reconstruction.weights()}
     * @return the combined tensors, little-endian float32
     * @throws SnapshotFormatException when a file does not match its manifest entry (SHA-256), records no averaged
     *     tensors, or the snapshots do not hold the same tensors averaged the same way; the message lists the
     *     differences
     * @throws IOException when the file system fails
     */
    public List<Float32Tensor> combined(List<Snapshot> chosen, double[] weights) throws IOException {
        requireArgument(chosen != null && !chosen.isEmpty(), "snapshots", "non-empty", chosen);
        requireArgument(weights != null && weights.length == chosen.size(), "weights",
                "one per snapshot (" + chosen.size() + ")", weights == null ? null : weights.length);
        for (double w : weights) {
            requireArgument(Double.isFinite(w), "every weight", "finite", Arrays.toString(weights));
        }
        Map<String, long[]> shapes = new LinkedHashMap<>();
        Map<String, double[]> sums = new LinkedHashMap<>();
        List<String> averaged = List.of();
        for (int i = 0; i < chosen.size(); i++) {
            Snapshot snapshot = chosen.get(i);
            requireArgument(snapshots.contains(snapshot), "snapshot", "one of this store's", snapshot.file());
            Path path = pathOf(snapshot);
            if (!sha256(path).equals(snapshot.sha256())) {
                throw new SnapshotFormatException(path, "SHA-256 differs from the manifest's " + snapshot.sha256()
                        + ": the file is damaged or was replaced");
            }
            try (SafetensorsFile file = SafetensorsFile.open(path)) {
                if (i == 0) {
                    for (TensorEntry tensor : file.tensors()) {
                        shapes.put(tensor.name(), tensor.shape());
                        sums.put(tensor.name(), new double[Math.toIntExact(tensor.byteLength() / 4)]);
                    }
                    averaged = averaged(path, file);
                }
                requireSameTensors(path, file, shapes);
                requireSameAveraged(path, averaged(path, file), pathOf(chosen.get(0)), averaged);
                for (TensorEntry tensor : file.tensors()) {
                    accumulate(file.read(tensor.name()), weights[i], sums.get(tensor.name()));
                }
            } catch (SafetensorsFormatException e) {
                throw new SnapshotFormatException(path, e.getMessage(), e);
            }
        }
        List<Float32Tensor> combined = new ArrayList<>();
        for (Map.Entry<String, double[]> e : sums.entrySet()) {
            double[] sum = e.getValue();
            ByteBuffer data = ByteBuffer.allocate(4 * sum.length).order(ByteOrder.LITTLE_ENDIAN);
            for (double value : sum) {
                data.putFloat((float) value);
            }
            combined.add(new Float32Tensor(e.getKey(), shapes.get(e.getKey()), data.flip(),
                    averaged.contains(e.getKey())));
        }
        return combined;
    }

    /**
     * The names of the tensors that the {@code chosen} snapshots record as EMAs (averaged), in the first one's order;
     * the others were copied from the live model. Reads the files' headers only.
     *
     * @param chosen snapshots of this store, at least one
     * @throws SnapshotFormatException when a file records no averaged tensors, names a tensor it does not hold, or
     *     the snapshots average different tensors
     * @throws IOException when the file system fails
     */
    public List<String> averaged(List<Snapshot> chosen) throws IOException {
        requireArgument(chosen != null && !chosen.isEmpty(), "snapshots", "non-empty", chosen);
        List<String> first = null;
        for (Snapshot snapshot : chosen) {
            requireArgument(snapshots.contains(snapshot), "snapshot", "one of this store's", snapshot.file());
            Path path = pathOf(snapshot);
            try (SafetensorsFile file = SafetensorsFile.open(path)) {
                List<String> averaged = averaged(path, file);
                if (first == null) {
                    first = averaged;
                }
                requireSameAveraged(path, averaged, pathOf(chosen.get(0)), first);
            } catch (SafetensorsFormatException e) {
                throw new SnapshotFormatException(path, e.getMessage(), e);
            }
        }
        return first;
    }

    /** The {@value #AVERAGED_KEY} list of an open snapshot or combined file, checked against its tensors. */
    private static List<String> averaged(Path path, SafetensorsFile file) {
        String recorded = file.metadata().get(AVERAGED_KEY);
        if (recorded == null) {
            throw new SnapshotFormatException(path, "no " + AVERAGED_KEY + " entry: the file does not record which"
                    + " tensors are averaged, so it cannot be reconstructed; record the snapshots again with this"
                    + " version (train --posthoc-every N)");
        }
        List<String> names;
        try {
            names = List.of(JSON.readValue(recorded, String[].class));
        } catch (IOException | RuntimeException e) {
            throw new SnapshotFormatException(path, AVERAGED_KEY + " must be a JSON array of tensor names, was "
                    + recorded, e);
        }
        for (String name : names) {
            if (file.find(name).isEmpty()) {
                throw new SnapshotFormatException(path, AVERAGED_KEY + " must name tensors of the file, was "
                        + names + " (no tensor " + name + ")");
            }
        }
        return names;
    }

    private static void requireSameAveraged(Path path, List<String> averaged, Path first, List<String> expected) {
        if (!new HashSet<>(averaged).equals(new HashSet<>(expected))) {
            throw new SnapshotFormatException(path, "snapshots must average the same tensors, but this file averages "
                    + averaged + " and " + first.getFileName() + " " + expected);
        }
    }

    /** Writes {@code tensors} atomically as float32 with {@code metadata} and the list of the averaged ones. */
    private static void write(List<Float32Tensor> tensors, Map<String, String> metadata, Path out) throws IOException {
        List<String> averaged = tensors.stream().filter(Float32Tensor::averaged).map(Float32Tensor::name).toList();
        SafetensorsWriter writer = SafetensorsWriter.create().metadata("format", "pt").metadata(metadata)
                .metadata(AVERAGED_KEY, JSON.writer().without(SerializationFeature.INDENT_OUTPUT)
                        .writeValueAsString(averaged));
        for (Float32Tensor tensor : tensors) {
            writer.tensor(tensor.name(), DTYPE, tensor.shape(), tensor.data());
        }
        writer.write(out);
    }

    @Override
    public String toString() {
        return "SnapshotStore{" + directory + ", " + snapshots.size() + " snapshots}";
    }

    /** Files are named by the gamma's position among the gammas recorded so far: ema0, ema1, ... */
    private int emaIndex(double gamma) {
        List<Double> gammas = snapshots.stream().map(Snapshot::gamma).distinct().toList();
        int index = gammas.indexOf(gamma);
        return index >= 0 ? index : gammas.size();
    }

    private static void requireSameTensors(Path path, SafetensorsFile file, Map<String, long[]> shapes) {
        List<String> problems = new ArrayList<>();
        for (String name : shapes.keySet()) {
            if (file.find(name).isEmpty()) {
                problems.add("missing " + name);
            }
        }
        for (TensorEntry tensor : file.tensors()) {
            long[] expected = shapes.get(tensor.name());
            if (expected == null) {
                problems.add("unexpected " + tensor.name());
            } else if (!Arrays.equals(expected, tensor.shape())) {
                problems.add(tensor.name() + " has shape " + Arrays.toString(tensor.shape()) + ", the first snapshot "
                        + Arrays.toString(expected));
            } else if (!tensor.dtype().equals(DTYPE)) {
                problems.add(tensor.name() + " is " + tensor.dtype() + ", must be " + DTYPE);
            }
        }
        if (!problems.isEmpty()) {
            throw new SnapshotFormatException(path, "snapshots must hold the same float32 tensors, but "
                    + String.join("; ", problems));
        }
    }

    private static void accumulate(ByteBuffer bytes, double weight, double[] sum) {
        FloatBuffer values = bytes.order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        for (int k = 0; k < sum.length; k++) {
            sum[k] += weight * values.get(k);
        }
    }

    static String sha256(Path file) throws IOException {
        return ema4j.io.FileDigest.sha256(file);
    }

    /** The manifest's JSON form. */
    record SnapshotManifest(int formatVersion, List<Snapshot> snapshots) {}
}
