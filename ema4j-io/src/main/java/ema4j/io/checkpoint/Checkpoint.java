package ema4j.io.checkpoint;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.core.JsonParser;
import ema4j.io.safetensors.SafetensorsFile;
import ema4j.io.safetensors.SafetensorsFormatException;
import ema4j.io.safetensors.TensorEntry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * A complete checkpoint directory, verified when opened: the manifest parses, every file it lists is there with
 * its size and SHA-256, and every safetensors file holds exactly the tensors the manifest lists.
 */
public final class Checkpoint {
    static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
            .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
            .enable(DeserializationFeature.FAIL_ON_MISSING_CREATOR_PROPERTIES)
            .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT);

    private final Path directory;
    private final Manifest manifest;

    private Checkpoint(Path directory, Manifest manifest) {
        this.directory = directory;
        this.manifest = manifest;
    }

    /**
     * Opens and verifies the checkpoint in {@code directory}.
     *
     * @throws CheckpointFormatException when it is incomplete, damaged or of an unknown format
     * @throws IOException when the file system fails
     */
    public static Checkpoint open(Path directory) throws IOException {
        Path manifestFile = directory.resolve(Manifest.FILE_NAME);
        if (!Files.isDirectory(directory)) {
            throw new CheckpointFormatException(directory, "no such checkpoint directory");
        }
        if (!Files.isRegularFile(manifestFile)) {
            throw new CheckpointFormatException(directory, "no " + Manifest.FILE_NAME + ": not a complete checkpoint");
        }
        Manifest manifest;
        try {
            manifest = JSON.readValue(manifestFile.toFile(), Manifest.class);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new CheckpointFormatException(directory, Manifest.FILE_NAME + " is not a valid manifest: "
                    + e.getOriginalMessage(), e);
        }
        Set<String> names = validate(directory, manifest);
        for (Manifest.FileEntry file : manifest.files()) {
            verify(directory, file);
        }
        for (String file : names) {
            if (file.endsWith(".safetensors")) {
                verifyTensors(directory, file, manifest.tensors().stream().filter(t -> t.file().equals(file))
                        .toList());
            }
        }
        return new Checkpoint(directory, manifest);
    }

    /**
     * Checks every field of the manifest before any file it names is read: the version, the step (the directory's, when
     * it is named step-N), the run id, and that every file name is a plain, unique name in the directory (never a path
     * elsewhere), every size and hash well-formed and every tensor in a listed safetensors file.
     *
     * @return the listed file names
     */
    private static Set<String> validate(Path directory, Manifest m) {
        if (m == null) {
            throw new CheckpointFormatException(directory, Manifest.FILE_NAME + " is empty (null)");
        }
        requireField(directory, m.formatVersion() == Manifest.FORMAT_VERSION, "formatVersion",
                Manifest.FORMAT_VERSION + " (this library's checkpoint format)", m.formatVersion());
        long named = CheckpointStore.stepOf(directory);
        requireField(directory, m.step() >= 0 && (named < 0 || m.step() == named), "step", named < 0 ? ">= 0"
                : "the directory's step " + named, m.step());
        requireField(directory, m.runId() != null && Manifest.RUN_ID.matcher(m.runId()).matches(), "runId",
                "1 to 64 lower-case letters, digits and dashes", m.runId());
        requireField(directory, m.library() != null && m.createdAt() != null, "library and createdAt", "present",
                m.library() == null ? "library missing" : "createdAt missing");
        requireField(directory, m.files() != null && m.tensors() != null, "files and tensors", "lists",
                m.files() == null ? "files missing" : "tensors missing");
        Set<String> names = new HashSet<>();
        for (Manifest.FileEntry file : m.files()) {
            requireField(directory, file != null && file.name() != null
                    && file.name().matches("[A-Za-z0-9_-][A-Za-z0-9._-]*") && !file.name().equals(Manifest.FILE_NAME)
                    && names.add(file.name()), "files[].name",
                    "a plain, unique file name of the checkpoint directory", file == null ? null : file.name());
            requireField(directory, file.bytes() >= 0, "bytes of " + file.name(), ">= 0", file.bytes());
            requireField(directory, file.sha256() != null && file.sha256().matches("[0-9a-f]{64}"),
                    "sha256 of " + file.name(), "64 lower-case hex digits", file.sha256());
        }
        for (Manifest.TensorRecord t : m.tensors()) {
            requireField(directory, t != null && t.file() != null && names.contains(t.file())
                    && t.file().endsWith(".safetensors"), "tensors[].file", "a listed safetensors file",
                    t == null ? null : t.file());
            requireField(directory, t.name() != null && t.dtype() != null && t.shape() != null
                    && t.shape().stream().allMatch(d -> d != null && d >= 0), "tensor " + t.name() + " of " + t.file(),
                    "a name, a dtype and a shape of sizes >= 0", t.dtype() + " " + t.shape());
        }
        return names;
    }

    private static void requireField(Path directory, boolean ok, String field, String rule, Object value) {
        if (!ok) {
            throw new CheckpointFormatException(directory, Manifest.FILE_NAME + ": " + field + " must be " + rule
                    + ", was " + value);
        }
    }

    private static void verify(Path directory, Manifest.FileEntry entry) throws IOException {
        Path file = directory.resolve(entry.name());
        if (!Files.isRegularFile(file)) {
            throw new CheckpointFormatException(directory, "file " + entry.name() + " listed in the manifest is missing");
        }
        long size = Files.size(file);
        if (size != entry.bytes()) {
            throw new CheckpointFormatException(directory, "file " + entry.name() + " has " + size
                    + " bytes, the manifest says " + entry.bytes());
        }
        String actual = sha256(file);
        if (!actual.equals(entry.sha256())) {
            throw new CheckpointFormatException(directory, "file " + entry.name() + " has SHA-256 " + actual
                    + ", the manifest says " + entry.sha256() + ": the file is damaged");
        }
    }

    private static void verifyTensors(Path directory, String file, List<Manifest.TensorRecord> expected)
            throws IOException {
        try (SafetensorsFile tensors = SafetensorsFile.open(directory.resolve(file))) {
            List<TensorEntry> actual = tensors.tensors();
            if (actual.size() != expected.size()) {
                throw new CheckpointFormatException(directory, file + " holds " + actual.size()
                        + " tensors, the manifest lists " + expected.size());
            }
            for (Manifest.TensorRecord record : expected) {
                TensorEntry entry = tensors.find(record.name()).orElseThrow(() -> new CheckpointFormatException(
                        directory, file + " lacks tensor " + record.name() + " listed in the manifest"));
                List<Long> shape = java.util.Arrays.stream(entry.shape()).boxed().toList();
                if (!entry.dtype().equals(record.dtype()) || !shape.equals(record.shape())) {
                    throw new CheckpointFormatException(directory, file + ": tensor " + record.name() + " is "
                            + entry.dtype() + " " + shape + ", the manifest says " + record.dtype() + " "
                            + record.shape());
                }
            }
        } catch (SafetensorsFormatException e) {
            throw new CheckpointFormatException(directory, e.getMessage(), e);
        }
    }

    static String sha256(Path file) throws IOException {
        return ema4j.io.FileDigest.sha256(file);
    }

    /** The checkpoint directory. */
    public Path directory() {
        return directory;
    }

    /** The verified manifest. */
    public Manifest manifest() {
        return manifest;
    }

    /** The step the checkpoint was taken after. */
    public long step() {
        return manifest.step();
    }

    /**
     * Opens one of the checkpoint's safetensors files; the caller closes it.
     *
     * @param name the file name, e.g. {@code model.safetensors}
     */
    public SafetensorsFile tensors(String name) throws IOException {
        requireListed(name);
        return SafetensorsFile.open(directory.resolve(name));
    }

    /**
     * Reads one of the checkpoint's JSON files.
     *
     * @param name the file name, e.g. {@code state.json}
     */
    public JsonNode json(String name) throws IOException {
        requireListed(name);
        try {
            return JSON.readTree(directory.resolve(name).toFile());
        } catch (NoSuchFileException e) {
            throw new CheckpointFormatException(directory, "file " + name + " is missing", e);
        }
    }

    /** Whether the checkpoint has a file called {@code name}. */
    public boolean has(String name) {
        return manifest.files().stream().anyMatch(f -> f.name().equals(name));
    }

    private void requireListed(String name) {
        if (!has(name)) {
            throw new CheckpointFormatException(directory, "has no file " + name + " (it has "
                    + manifest.files().stream().map(Manifest.FileEntry::name).toList() + ")");
        }
    }

    @Override
    public String toString() {
        return "Checkpoint{" + directory + ", step " + manifest.step() + "}";
    }
}
