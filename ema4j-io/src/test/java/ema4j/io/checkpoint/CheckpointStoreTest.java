package ema4j.io.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ema4j.core.Ema4jVersion;
import ema4j.io.safetensors.SafetensorsFile;
import ema4j.io.safetensors.SafetensorsWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointStoreTest {

    private static CheckpointStore.Contents contents(float value) {
        ByteBuffer data = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putFloat(value).putFloat(-value);
        return new CheckpointStore.Contents()
                .tensors("model.safetensors", SafetensorsWriter.create().tensor("w", "F32", new long[] {2},
                        data.flip()))
                .json("state.json", Map.of("value", value));
    }

    @Test
    void aSavedCheckpointOpensVerifiedWithItsManifest(@TempDir Path root) throws Exception {
        CheckpointStore store = CheckpointStore.at(root, 3);
        Checkpoint saved = store.save(12, contents(1.5f));
        assertThat(saved.directory().getFileName().toString()).isEqualTo("step-000000000012");
        Checkpoint opened = Checkpoint.open(saved.directory());
        assertThat(opened.step()).isEqualTo(12);
        assertThat(opened.manifest().formatVersion()).isEqualTo(Manifest.FORMAT_VERSION);
        assertThat(opened.manifest().library()).isEqualTo(Ema4jVersion.label()).doesNotContain("unknown");
        assertThat(opened.manifest().files()).extracting(Manifest.FileEntry::name)
                .containsExactly("model.safetensors", "state.json");
        assertThat(opened.manifest().tensors()).singleElement()
                .isEqualTo(new Manifest.TensorRecord("model.safetensors", "w", "F32", java.util.List.of(2L)));
        assertThat(opened.json("state.json").get("value").floatValue()).isEqualTo(1.5f);
        try (SafetensorsFile f = opened.tensors("model.safetensors")) {
            assertThat(f.read("w").order(ByteOrder.LITTLE_ENDIAN).getFloat(4)).isEqualTo(-1.5f);
        }
    }

    @Test
    void onlyTheLastKCheckpointsAreKept(@TempDir Path root) throws Exception {
        CheckpointStore store = CheckpointStore.at(root, 2);
        for (int step = 1; step <= 4; step++) {
            store.save(step * 10, contents(step));
        }
        assertThat(store.list()).extracting(Checkpoint::step).containsExactly(40L, 30L);
        assertThat(store.latest()).get().extracting(Checkpoint::step).isEqualTo(40L);
    }

    @Test
    void aSaveThatFailsRemovesItsHalfWrittenFolderAndSaysTheEarlierCheckpointsAreIntact(@TempDir Path root)
            throws Exception {
        CheckpointStore store = CheckpointStore.at(root, 3);
        store.save(5, contents(1));
        CheckpointStore.Contents failing = new CheckpointStore.Contents()
                .tensors("model.safetensors", SafetensorsWriter.create().tensor("w", "F32", new long[] {1 << 20},
                        out -> {
                            out.write(ByteBuffer.allocate(1 << 16));
                            throw new java.io.IOException("No space left on device");
                        }));
        assertThatThrownBy(() -> store.save(6, failing)).isInstanceOf(java.io.IOException.class)
                .hasMessage("No space left on device while writing the checkpoint of step 6 in " + root
                        + "; the earlier checkpoints are intact");
        try (java.util.stream.Stream<Path> left = java.nio.file.Files.list(root)) {
            assertThat(left.map(p -> p.getFileName().toString()).toList()).containsExactly("step-000000000005");
        }
        assertThat(store.latest()).get().extracting(Checkpoint::step).isEqualTo(5L);
    }

    @Test
    void aStepTooLargeForTheNameIsRefused(@TempDir Path root) throws Exception {
        assertThatThrownBy(() -> CheckpointStore.at(root, 1).save(1_000_000_000_000L, contents(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("step must be in [0, 10^12), was 1000000000000");
    }

    @Test
    void pruningNeverDeletesCheckpointsOfLaterSteps(@TempDir Path root) throws Exception {
        CheckpointStore store = CheckpointStore.at(root, 2);
        for (int step = 1; step <= 4; step++) {
            store.save(step * 10, contents(step));
        }
        // a save of an earlier step (a run resumed from an older checkpoint) keeps the later ones
        store.save(15, contents(9));
        assertThat(store.list()).extracting(Checkpoint::step).containsExactly(40L, 30L, 15L);
    }

    @Test
    void latestIgnoresPartialLeftoversAndDamagedCheckpoints(@TempDir Path root) throws Exception {
        CheckpointStore store = CheckpointStore.at(root, 5);
        store.save(5, contents(1));
        Checkpoint newer = store.save(6, contents(2));
        Files.createDirectories(root.resolve(".tmp-step-000000000007-abc"));
        Files.createDirectories(root.resolve("step-000000000008"));               // no manifest: incomplete
        Files.write(newer.directory().resolve("state.json"), new byte[] {'{', '}'}); // damaged after the fact
        assertThat(store.latest()).get().extracting(Checkpoint::step).isEqualTo(5L);
        store.save(9, contents(3));
        assertThat(root.resolve(".tmp-step-000000000007-abc")).doesNotExist();
    }

    @Test
    void aDamagedFileIsReportedWithItsNameAndChecksums(@TempDir Path root) throws Exception {
        Checkpoint saved = CheckpointStore.at(root, 1).save(3, contents(1));
        Path model = saved.directory().resolve("model.safetensors");
        byte[] bytes = Files.readAllBytes(model);
        bytes[bytes.length - 1] ^= 1;
        Files.write(model, bytes);
        assertThatThrownBy(() -> Checkpoint.open(saved.directory())).isInstanceOf(CheckpointFormatException.class)
                .hasMessageContaining("step-000000000003").hasMessageContaining("file model.safetensors has SHA-256")
                .hasMessageContaining("damaged");
    }

    @Test
    void missingFilesAndManifestsAreReported(@TempDir Path root) throws Exception {
        Checkpoint saved = CheckpointStore.at(root, 1).save(3, contents(1));
        Files.delete(saved.directory().resolve("state.json"));
        assertThatThrownBy(() -> Checkpoint.open(saved.directory()))
                .hasMessageContaining("file state.json listed in the manifest is missing");
        Files.delete(saved.directory().resolve(Manifest.FILE_NAME));
        assertThatThrownBy(() -> Checkpoint.open(saved.directory()))
                .hasMessageContaining("no manifest.json: not a complete checkpoint");
        assertThatThrownBy(() -> Checkpoint.open(root.resolve("nothing-here")))
                .hasMessageContaining("no such checkpoint directory");
    }

    @Test
    void anUnknownFormatVersionIsRefused(@TempDir Path root) throws Exception {
        Checkpoint saved = CheckpointStore.at(root, 1).save(3, contents(1));
        Path manifest = saved.directory().resolve(Manifest.FILE_NAME);
        Files.writeString(manifest, Files.readString(manifest).replace("\"formatVersion\" : 1", "\"formatVersion\" : 99"));
        assertThatThrownBy(() -> Checkpoint.open(saved.directory()))
                .hasMessageContaining("format version 99 is not supported");
    }

    @Test
    void savingTheSameStepAgainReplacesIt(@TempDir Path root) throws Exception {
        CheckpointStore store = CheckpointStore.at(root, 3);
        store.save(4, contents(1));
        store.save(4, contents(2));
        assertThat(store.latest().orElseThrow().json("state.json").get("value").floatValue()).isEqualTo(2f);
        assertThat(store.list()).hasSize(1);
    }
}
