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
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

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
        } catch (IOException e) {
            throw new CheckpointFormatException(directory, Manifest.FILE_NAME + " is not a valid manifest: "
                    + e.getMessage(), e);
        }
        if (manifest.formatVersion() != Manifest.FORMAT_VERSION) {
            throw new CheckpointFormatException(directory, "format version " + manifest.formatVersion()
                    + " is not supported; this library reads version " + Manifest.FORMAT_VERSION);
        }
        Set<String> names = new HashSet<>();
        for (Manifest.FileEntry file : manifest.files()) {
            if (file.name() == null || file.name().contains("/") || file.name().contains("\\")
                    || file.name().startsWith(".") || !names.add(file.name())) {
                throw new CheckpointFormatException(directory, "manifest lists an invalid or repeated file name '"
                        + file.name() + "'");
            }
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
