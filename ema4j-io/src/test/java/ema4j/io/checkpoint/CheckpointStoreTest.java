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
    private static final String RUN = "run-a";


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
        Checkpoint saved = store.save(12, RUN, contents(1.5f));
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
            store.save(step * 10, RUN, contents(step));
        }
        assertThat(store.list()).extracting(Checkpoint::step).containsExactly(40L, 30L);
        assertThat(store.latest()).get().extracting(Checkpoint::step).isEqualTo(40L);
    }

    @Test
    void aSaveThatFailsRemovesItsHalfWrittenFolderAndSaysTheEarlierCheckpointsAreIntact(@TempDir Path root)
            throws Exception {
        CheckpointStore store = CheckpointStore.at(root, 3);
        store.save(5, RUN, contents(1));
        CheckpointStore.Contents failing = new CheckpointStore.Contents()
                .tensors("model.safetensors", SafetensorsWriter.create().tensor("w", "F32", new long[] {1 << 20},
                        out -> {
                            out.write(ByteBuffer.allocate(1 << 16));
                            throw new java.io.IOException("No space left on device");
                        }));
        assertThatThrownBy(() -> store.save(6, RUN, failing)).isInstanceOf(java.io.IOException.class)
                .hasMessage("No space left on device while writing the checkpoint of step 6 in " + root
                        + "; the earlier checkpoints are intact");
        try (java.util.stream.Stream<Path> left = java.nio.file.Files.list(root)) {
            assertThat(left.map(p -> p.getFileName().toString()).toList()).containsExactly("step-000000000005");
        }
        assertThat(store.latest()).get().extracting(Checkpoint::step).isEqualTo(5L);
    }

    @Test
    void aStepTooLargeForTheNameIsRefused(@TempDir Path root) throws Exception {
        assertThatThrownBy(() -> CheckpointStore.at(root, 1).save(1_000_000_000_000L, RUN, contents(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("step must be in [0, 10^12), was 1000000000000");
    }

    @Test
    void pruningNeverDeletesCheckpointsOfLaterSteps(@TempDir Path root) throws Exception {
        CheckpointStore store = CheckpointStore.at(root, 2);
        for (int step = 1; step <= 4; step++) {
            store.save(step * 10, RUN, contents(step));
        }
        // a save of an earlier step (a run resumed from an older checkpoint) keeps the later ones
        store.save(15, RUN, contents(9));
        assertThat(store.list()).extracting(Checkpoint::step).containsExactly(40L, 30L, 15L);
    }

    @Test
    void latestIgnoresPartialLeftoversAndDamagedCheckpoints(@TempDir Path root) throws Exception {
        CheckpointStore store = CheckpointStore.at(root, 5);
        store.save(5, RUN, contents(1));
        Checkpoint newer = store.save(6, RUN, contents(2));
        Files.createDirectories(root.resolve(".tmp-step-000000000007-abc"));
        Files.createDirectories(root.resolve("step-000000000008"));               // no manifest: incomplete
        Files.write(newer.directory().resolve("state.json"), new byte[] {'{', '}'}); // damaged after the fact
        assertThat(store.latest()).get().extracting(Checkpoint::step).isEqualTo(5L);
        store.save(9, RUN, contents(3));
        assertThat(root.resolve(".tmp-step-000000000007-abc")).doesNotExist();
    }

    @Test
    void aDamagedFileIsReportedWithItsNameAndChecksums(@TempDir Path root) throws Exception {
        Checkpoint saved = CheckpointStore.at(root, 1).save(3, RUN, contents(1));
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
        Checkpoint saved = CheckpointStore.at(root, 1).save(3, RUN, contents(1));
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
        Checkpoint saved = CheckpointStore.at(root, 1).save(3, RUN, contents(1));
        Path manifest = saved.directory().resolve(Manifest.FILE_NAME);
        Files.writeString(manifest, Files.readString(manifest).replace("\"formatVersion\" : 2", "\"formatVersion\" : 99"));
        assertThatThrownBy(() -> Checkpoint.open(saved.directory())).hasMessage(saved.directory()
                + ": manifest.json: formatVersion must be 2 (this library's checkpoint format), was 99");
    }

    @Test
    void pruningAndReplacingTouchOnlyTheRunsOwnCheckpoints(@TempDir Path root) throws Exception {
        CheckpointStore store = CheckpointStore.at(root, 2);
        Checkpoint other = store.save(5, "run-b", contents(9));
        for (long step : new long[] {10, 20, 30, 40}) {
            store.save(step, RUN, contents(step));
        }
        assertThat(store.list()).extracting(Checkpoint::step).containsExactly(40L, 30L, 5L);
        assertThat(store.runIds()).containsExactly(RUN, "run-b");
        assertThatThrownBy(() -> store.save(5, RUN, contents(1))).isInstanceOf(IllegalStateException.class)
                .hasMessage(other.directory() + " must belong to run " + RUN + " to be replaced, was run run-b (move it"
                        + " out; nothing is deleted for you)");
        assertThat(Checkpoint.open(other.directory()).json("state.json").get("value").floatValue()).isEqualTo(9f);
    }

    @Test
    void aManifestIsReadStrictlyBeforeAnyFileItNamesIsTouched(@TempDir Path root) throws Exception {
        Checkpoint saved = CheckpointStore.at(root, 1).save(3, RUN, contents(1));
        Path manifest = saved.directory().resolve(Manifest.FILE_NAME);
        String original = Files.readString(manifest);
        String[][] damages = {
            {"\"name\" : \"state.json\"", "\"name\" : \"../state.json\"",
                "files[].name must be a plain, unique file name of the checkpoint directory, was ../state.json"},
            {"\"name\" : \"state.json\"", "\"name\" : \"/etc/passwd\"",
                "files[].name must be a plain, unique file name of the checkpoint directory, was /etc/passwd"},
            {"\"name\" : \"state.json\"", "\"name\" : null",
                "files[].name must be a plain, unique file name of the checkpoint directory, was null"},
            {"\"runId\" : \"" + RUN + "\"", "\"runId\" : \"Run A\"",
                "runId must be 1 to 64 lower-case letters, digits and dashes, was Run A"},
            {"\"step\" : 3", "\"step\" : 4", "step must be the directory's step 3, was 4"},
        };
        for (String[] damage : damages) {
            assertThat(original).contains(damage[0]);
            Files.writeString(manifest, original.replace(damage[0], damage[1]));
            assertThatThrownBy(() -> Checkpoint.open(saved.directory())).isInstanceOf(CheckpointFormatException.class)
                    .hasMessage(saved.directory() + ": manifest.json: " + damage[2]);
        }
        Files.writeString(manifest, "null");
        assertThatThrownBy(() -> Checkpoint.open(saved.directory()))
                .hasMessage(saved.directory() + ": manifest.json is empty (null)");
        Files.writeString(manifest, original.replace("\"step\" : 3", "\"step\" : 3, \"stepp\" : 4"));
        assertThatThrownBy(() -> Checkpoint.open(saved.directory())).isInstanceOf(CheckpointFormatException.class)
                .hasMessageStartingWith(saved.directory() + ": manifest.json is not a valid manifest: Unrecognized"
                        + " field \"stepp\"");
    }

    @Test
    void savingTheSameStepAgainReplacesIt(@TempDir Path root) throws Exception {
        CheckpointStore store = CheckpointStore.at(root, 3);
        store.save(4, RUN, contents(1));
        store.save(4, RUN, contents(2));
        assertThat(store.latest().orElseThrow().json("state.json").get("value").floatValue()).isEqualTo(2f);
        assertThat(store.list()).hasSize(1);
    }
}
