package ema4j.io.checkpoint;

import static ema4j.core.internal.Preconditions.requireArgument;

import com.fasterxml.jackson.databind.SerializationFeature;
import ema4j.core.Ema4jVersion;
import ema4j.io.AtomicFiles;
import ema4j.io.safetensors.SafetensorsFile;
import ema4j.io.safetensors.TensorEntry;
import ema4j.io.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A directory of checkpoints, {@code step-000000001234}, written crash-safely and pruned to the last K.
 *
 * <p>A checkpoint is written into a hidden temporary sibling ({@code .tmp-step-...}); every file and the directory
 * are fsynced, the manifest (with every file's SHA-256) is written last, and the directory is renamed into place
 * atomically. A process killed at any moment of a save leaves the earlier checkpoints intact; its leftovers are
 * hidden directories that {@link #latest()} ignores and the next save removes.
 */
public final class CheckpointStore {
    private static final Pattern NAME = Pattern.compile("step-(\\d{12})");

    private final Path root;
    private final int keepLast;

    private CheckpointStore(Path root, int keepLast) {
        this.root = root;
        this.keepLast = keepLast;
    }

    /**
     * A store in {@code root}, created if missing.
     *
     * @param root the directory holding the checkpoints
     * @param keepLast how many complete checkpoints to keep, {@code >= 1}
     */
    public static CheckpointStore at(Path root, int keepLast) throws IOException {
        requireArgument(keepLast >= 1, "keepLast", ">= 1", keepLast);
        Files.createDirectories(root);
        return new CheckpointStore(root, keepLast);
    }

    /** What goes into one checkpoint: named safetensors files and JSON documents. */
    public static final class Contents {
        private final Map<String, SafetensorsWriter> tensors = new LinkedHashMap<>();
        private final Map<String, Object> json = new LinkedHashMap<>();

        /** Adds a safetensors file, e.g. {@code model.safetensors}. */
        public Contents tensors(String fileName, SafetensorsWriter writer) {
            requireArgument(fileName.endsWith(".safetensors"), "fileName", "a name ending in .safetensors", fileName);
            requireArgument(!tensors.containsKey(fileName) && !json.containsKey(fileName), "fileName", "unique",
                    fileName);
            tensors.put(fileName, writer);
            return this;
        }

        /** Adds a JSON document (any value Jackson can write), e.g. {@code state.json}. */
        public Contents json(String fileName, Object value) {
            requireArgument(fileName.endsWith(".json") && !fileName.equals(Manifest.FILE_NAME), "fileName",
                    "a name ending in .json other than " + Manifest.FILE_NAME, fileName);
            requireArgument(!tensors.containsKey(fileName) && !json.containsKey(fileName), "fileName", "unique",
                    fileName);
            json.put(fileName, value);
            return this;
        }
    }

    /**
     * Writes a checkpoint of run {@code runId} for {@code step} and prunes that run's older ones beyond the last K.
     * Replaces an existing checkpoint of the same step and run. Nothing else is ever deleted: checkpoints of later
     * steps (not this run's past), of other runs and damaged ones stay where they are.
     *
     * @param runId the run's id ({@link Manifest#RUN_ID}), the same for every checkpoint of one run
     * @return the written checkpoint, verified
     * @throws IllegalStateException when the directory holds a checkpoint of this step from another run
     */
    public Checkpoint save(long step, String runId, Contents contents) throws IOException {
        // a checkpoint's name has 12 digits: a larger step would make one that is never listed nor pruned
        requireArgument(step >= 0 && step < 1_000_000_000_000L, "step", "in [0, 10^12)", step);
        requireArgument(runId != null && Manifest.RUN_ID.matcher(runId).matches(), "runId",
                "1 to 64 lower-case letters, digits and dashes", runId);
        Path existing = root.resolve(String.format("step-%012d", step));
        if (Files.exists(existing) && !runId.equals(runIdOf(existing))) {
            throw new IllegalStateException(existing + " must belong to run " + runId + " to be replaced, was "
                    + (runIdOf(existing) == null ? "a damaged checkpoint" : "run " + runIdOf(existing))
                    + " (move it out; nothing is deleted for you)");
        }
        removeLeftovers();
        String name = String.format("step-%012d", step);
        Path temporary = root.resolve(".tmp-" + name + "-"
                + Long.toUnsignedString(ThreadLocalRandom.current().nextLong(), 36));
        Files.createDirectory(temporary);
        try {
            return saveFrom(temporary, name, step, runId, contents);
        } catch (IOException | RuntimeException | Error e) {
            // the half-written checkpoint would hold the space a retry needs; earlier checkpoints are intact
            try {
                deleteTree(temporary);
            } catch (IOException cleanup) {
                e.addSuppressed(cleanup);
            }
            if (e instanceof IOException io) {
                throw new IOException(io.getMessage() + " while writing the checkpoint of step " + step + " in " + root
                        + "; the earlier checkpoints are intact", io);
            }
            throw e;
        }
    }

    private Checkpoint saveFrom(Path temporary, String name, long step, String runId, Contents contents)
            throws IOException {
        List<Manifest.FileEntry> files = new ArrayList<>();
        List<Manifest.TensorRecord> tensors = new ArrayList<>();
        for (Map.Entry<String, SafetensorsWriter> e : contents.tensors.entrySet()) {
            Path file = temporary.resolve(e.getKey());
            writeSynced(file, channel -> e.getValue().writeTo(channel));
            try (SafetensorsFile written = SafetensorsFile.open(file)) {
                for (TensorEntry t : written.tensors()) {
                    tensors.add(new Manifest.TensorRecord(e.getKey(), t.name(), t.dtype(),
                            java.util.Arrays.stream(t.shape()).boxed().toList()));
                }
            }
            files.add(new Manifest.FileEntry(e.getKey(), Files.size(file), Checkpoint.sha256(file)));
        }
        for (Map.Entry<String, Object> e : contents.json.entrySet()) {
            Path file = temporary.resolve(e.getKey());
            byte[] bytes = Checkpoint.JSON.writerWithDefaultPrettyPrinter().writeValueAsBytes(e.getValue());
            writeSynced(file, channel -> channel.write(java.nio.ByteBuffer.wrap(bytes)));
            files.add(new Manifest.FileEntry(e.getKey(), bytes.length, Checkpoint.sha256(file)));
        }
        Manifest manifest = new Manifest(Manifest.FORMAT_VERSION, Ema4jVersion.label(), step, runId,
                Instant.now().toString(),
                files, tensors);
        byte[] manifestBytes = Checkpoint.JSON.copy().enable(SerializationFeature.INDENT_OUTPUT)
                .writeValueAsBytes(manifest);
        writeSynced(temporary.resolve(Manifest.FILE_NAME), channel -> channel.write(
                java.nio.ByteBuffer.wrap(manifestBytes)));
        AtomicFiles.forceDirectory(temporary);
        Path target = root.resolve(name);
        if (Files.exists(target)) {
            Path trash = root.resolve(".old-" + name + "-" + Long.toUnsignedString(System.nanoTime(), 36));
            Files.move(target, trash, StandardCopyOption.ATOMIC_MOVE);
            Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE);
            deleteTree(trash);
        } else {
            Files.move(temporary, target, StandardCopyOption.ATOMIC_MOVE);
        }
        AtomicFiles.forceDirectory(root);
        prune(step, runId);
        return Checkpoint.open(target);
    }

    /** The complete checkpoints, newest first; damaged ones are skipped. */
    public List<Checkpoint> list() throws IOException {
        List<Checkpoint> found = new ArrayList<>();
        for (Path dir : stepDirectories()) {
            try {
                found.add(Checkpoint.open(dir));
            } catch (CheckpointFormatException damaged) {
                // a damaged or foreign directory is no checkpoint to resume from; list() reports only sound ones
            }
        }
        return found;
    }

    /** The newest complete checkpoint, if any. */
    public Optional<Checkpoint> latest() throws IOException {
        for (Path dir : stepDirectories()) {
            try {
                return Optional.of(Checkpoint.open(dir));
            } catch (CheckpointFormatException damaged) {
                // fall back to the one before: an interrupted save never damages a complete one, but a disk might
            }
        }
        return Optional.empty();
    }

    /** The step of the newest checkpoint directory, complete or damaged, or -1 when there is none. */
    public long newestStep() throws IOException {
        List<Path> dirs = stepDirectories();
        return dirs.isEmpty() ? -1 : stepOf(dirs.get(0));
    }

    /**
     * The checkpoint directories of steps after {@code step} that do not open as complete checkpoints, newest
     * first, each with the reason, e.g. {@code step-000000000060 (manifest.json: ...)}.
     */
    public List<String> damagedAfter(long step) throws IOException {
        List<String> damaged = new ArrayList<>();
        for (Path dir : stepDirectories()) {
            if (stepOf(dir) > step) {
                try {
                    Checkpoint.open(dir);
                } catch (CheckpointFormatException e) {
                    damaged.add(dir.getFileName() + " (" + e.getMessage() + ")");
                }
            }
        }
        return damaged;
    }

    /** The store's directory. */
    public Path root() {
        return root;
    }

    private List<Path> stepDirectories() throws IOException {
        try (Stream<Path> entries = Files.list(root)) {
            return entries.filter(p -> NAME.matcher(p.getFileName().toString()).matches() && Files.isDirectory(p))
                    .sorted(Comparator.comparing((Path p) -> p.getFileName().toString()).reversed())
                    .toList();
        }
    }

    /**
     * The run ids of the complete checkpoints, newest checkpoint's first; more than one when checkpoints of several
     * runs were put in one directory.
     */
    public List<String> runIds() throws IOException {
        return list().stream().map(c -> c.manifest().runId()).distinct().toList();
    }

    /** The run id of the complete checkpoint in {@code dir}, or null when it does not open. */
    private static String runIdOf(Path dir) throws IOException {
        try {
            return Checkpoint.open(dir).manifest().runId();
        } catch (CheckpointFormatException damaged) {
            return null;
        }
    }

    /** Deletes run {@code runId}'s complete checkpoints of steps up to {@code step} beyond the newest K of them. */
    private void prune(long step, String runId) throws IOException {
        List<Path> dirs = new ArrayList<>();
        for (Path dir : stepDirectories()) {
            if (stepOf(dir) <= step && runId.equals(runIdOf(dir))) {
                dirs.add(dir);
            }
        }
        for (Path old : dirs.subList(Math.min(keepLast, dirs.size()), dirs.size())) {
            Path trash = root.resolve(".old-" + old.getFileName() + "-" + Long.toUnsignedString(System.nanoTime(), 36));
            Files.move(old, trash, StandardCopyOption.ATOMIC_MOVE);
            deleteTree(trash);
        }
    }

    private void removeLeftovers() throws IOException {
        try (Stream<Path> entries = Files.list(root)) {
            for (Path p : entries.toList()) {
                String n = p.getFileName().toString();
                if ((n.startsWith(".tmp-step-") || n.startsWith(".old-step-")) && Files.isDirectory(p)) {
                    deleteTree(p);
                }
            }
        }
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> walk = Files.walk(dir)) {
            for (Path p : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    private static void writeSynced(Path file, AtomicFiles.Content content) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            content.writeTo(channel);
            channel.force(true);
        }
    }

    /** The step encoded in a checkpoint directory's name, or -1. */
    public static long stepOf(Path directory) {
        Matcher m = NAME.matcher(directory.getFileName().toString());
        return m.matches() ? Long.parseLong(m.group(1)) : -1;
    }
}
