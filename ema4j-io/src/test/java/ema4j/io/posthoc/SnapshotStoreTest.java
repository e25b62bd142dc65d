package ema4j.io.posthoc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ema4j.core.posthoc.PowerFunctionProfile;
import ema4j.io.safetensors.SafetensorsFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SnapshotStoreTest {

    private static SnapshotStore.Float32Tensor tensor(String name, float... values) {
        ByteBuffer data = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            data.putFloat(v);
        }
        return new SnapshotStore.Float32Tensor(name, new long[] {values.length}, data.flip(), true);
    }

    private static SnapshotStore.Float32Tensor copied(String name, float... values) {
        SnapshotStore.Float32Tensor t = tensor(name, values);
        return new SnapshotStore.Float32Tensor(name, t.shape(), t.data(), false);
    }

    private static float[] floats(Path file, String name) throws Exception {
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            ByteBuffer bytes = f.read(name).order(ByteOrder.LITTLE_ENDIAN);
            float[] out = new float[bytes.remaining() / 4];
            bytes.asFloatBuffer().get(out);
            return out;
        }
    }

    @Test
    void savedSnapshotsAreListedFromTheManifestWithTheirProfiles(@TempDir Path dir) throws Exception {
        SnapshotStore store = SnapshotStore.create(dir);
        double gamma = PowerFunctionProfile.gammaFromSigmaRel(0.05);
        store.save(10, gamma, List.of(tensor("w", 1, 2), tensor("b", 3)));
        store.save(10, 16.97, List.of(tensor("w", 1, 2), tensor("b", 3)));
        store.save(20, gamma, List.of(tensor("w", 5, 6), tensor("b", 7)));

        SnapshotStore reopened = SnapshotStore.open(dir);
        assertThat(reopened.snapshots()).extracting(Snapshot::step).containsExactly(10L, 10L, 20L);
        Snapshot first = reopened.snapshots().get(0);
        assertThat(first.profile()).isEqualTo(new PowerFunctionProfile(gamma, 10));
        assertThat(first.sigmaRel()).isCloseTo(0.05, within(1e-12));
        assertThat(reopened.snapshotsUpTo(15)).hasSize(2);
        assertThat(floats(reopened.pathOf(reopened.snapshots().get(2)), "w")).containsExactly(5, 6);
        assertThat(SafetensorsFile.open(reopened.pathOf(first)).metadata()).containsEntry("step", "10");
    }

    @Test
    void theManifestIsTheOnlySourceOfTruthNotTheFileNames(@TempDir Path dir) throws Exception {
        SnapshotStore store = SnapshotStore.create(dir);
        store.save(4, 7.0, List.of(tensor("w", 1)));
        Files.copy(store.pathOf(store.snapshots().get(0)), dir.resolve("snapshot-000000000099-ema0.safetensors"));
        assertThat(SnapshotStore.open(dir).snapshots()).extracting(Snapshot::step).containsExactly(4L);
    }

    @Test
    void aResumedStoreAppendsAndReplacesTheSameStepAndGamma(@TempDir Path dir) throws Exception {
        SnapshotStore.create(dir).save(5, 7.0, List.of(tensor("w", 1)));
        SnapshotStore resumed = SnapshotStore.create(dir);
        resumed.save(5, 7.0, List.of(tensor("w", 2)));
        resumed.save(6, 7.0, List.of(tensor("w", 3)));
        SnapshotStore reopened = SnapshotStore.open(dir);
        assertThat(reopened.snapshots()).extracting(Snapshot::step).containsExactly(5L, 6L);
        assertThat(floats(reopened.pathOf(reopened.snapshots().get(0)), "w")).containsExactly(2);
    }

    @Test
    void discardAfterForgetsLaterSnapshotsAndDeletesTheirFiles(@TempDir Path dir) throws Exception {
        SnapshotStore store = SnapshotStore.create(dir);
        for (long step = 3; step <= 12; step += 3) {
            store.save(step, 7.0, List.of(tensor("w", step)));
            store.save(step, 3.0, List.of(tensor("w", -step)));
        }
        Path nine = store.pathOf(store.snapshots().get(4));

        List<Snapshot> discarded = store.discardAfter(8);

        assertThat(discarded).extracting(Snapshot::step).containsExactly(9L, 9L, 12L, 12L);
        assertThat(Files.exists(nine)).isFalse();
        assertThat(store.snapshots()).extracting(Snapshot::step).containsExactly(3L, 3L, 6L, 6L);
        assertThat(SnapshotStore.open(dir).snapshots()).isEqualTo(store.snapshots());
        assertThat(store.discardAfter(8)).isEmpty();
        assertThatThrownBy(() -> store.discardAfter(-1)).hasMessage("step must be >= 0, was -1");
    }

    @Test
    void aManifestNamingAFileOutsideTheStoreIsRefusedAndNothingThereIsTouched(@TempDir Path dir) throws Exception {
        Path store = dir.resolve("snapshots");
        SnapshotStore.create(store).save(4, 7.0, List.of(tensor("w", 1)));
        Path victim = dir.resolve("precious.txt");
        Files.writeString(victim, "a user's file");
        String manifest = Files.readString(store.resolve(SnapshotStore.MANIFEST_FILE));
        String name = SnapshotStore.open(store).snapshots().get(0).file();
        for (String hostile : List.of("../precious.txt", victim.toString(), "sub/../../precious.txt")) {
            Files.writeString(store.resolve(SnapshotStore.MANIFEST_FILE), manifest.replace(name, hostile));
            assertThatThrownBy(() -> SnapshotStore.open(store)).isInstanceOf(SnapshotFormatException.class)
                    .hasMessageContaining("a snapshot file name of the store's own directory")
                    .hasMessageContaining(hostile);
        }
        assertThat(victim).hasContent("a user's file");
        Files.writeString(store.resolve(SnapshotStore.MANIFEST_FILE), manifest.replace("\"step\"", "\"deleteMe\" : true,"
                + " \"step\""));
        assertThatThrownBy(() -> SnapshotStore.open(store)).isInstanceOf(SnapshotFormatException.class)
                .hasMessageContaining("unreadable manifest: Unrecognized field \"deleteMe\"");
    }

    @Test
    void discardAfterLeavesAFileThatChangedSinceItWasRecorded(@TempDir Path dir) throws Exception {
        SnapshotStore store = SnapshotStore.create(dir);
        store.save(3, 7.0, List.of(tensor("w", 1)));
        store.save(6, 7.0, List.of(tensor("w", 2)));
        Path later = store.pathOf(store.snapshots().get(1));
        Files.writeString(later, "replaced by the user");
        store.discardAfter(3);
        assertThat(later).hasContent("replaced by the user");
        assertThat(store.snapshots()).extracting(Snapshot::step).containsExactly(3L);
    }

    @Test
    void combineAddsTheWeightedSnapshotsTensorByName(@TempDir Path dir) throws Exception {
        SnapshotStore store = SnapshotStore.create(dir);
        store.save(1, 7.0, List.of(tensor("w", 1, 2), tensor("b", 10)));
        store.save(2, 7.0, List.of(tensor("b", 20), tensor("w", 3, 4)));   // other order: paired by name
        store.save(3, 7.0, List.of(tensor("w", 5, 6), tensor("b", 30)));
        Path out = dir.resolve("combined.safetensors");
        store.combine(store.snapshots(), new double[] {-0.5, 1.0, 0.5}, Map.of("sigma_rel", "0.1"), out);
        assertThat(floats(out, "w")).containsExactly(-0.5f + 3 + 2.5f, -1 + 4 + 3);
        assertThat(floats(out, "b")).containsExactly(-5 + 20 + 15);
        try (SafetensorsFile f = SafetensorsFile.open(out)) {
            assertThat(f.metadata()).containsEntry("sigma_rel", "0.1");
            assertThat(f.tensors()).extracting(t -> t.name()).containsExactly("w", "b");
        }
    }

    @Test
    void combiningOneSnapshotWithWeightOneReproducesItExactly(@TempDir Path dir) throws Exception {
        SnapshotStore store = SnapshotStore.create(dir);
        store.save(1, 7.0, List.of(tensor("w", 0.1f, -3.3f, 1e-7f)));
        Path out = dir.resolve("same.safetensors");
        store.combine(store.snapshots(), new double[] {1.0}, Map.of(), out);
        assertThat(floats(out, "w")).containsExactly(0.1f, -3.3f, 1e-7f);
    }

    @Test
    void combineRefusesSnapshotsWithDifferentTensorsNamingTheMissingAndUnexpected(@TempDir Path dir)
            throws Exception {
        SnapshotStore store = SnapshotStore.create(dir);
        store.save(1, 7.0, List.of(tensor("w", 1), tensor("b", 2)));
        store.save(2, 7.0, List.of(tensor("w", 1), tensor("c", 2)));
        assertThatThrownBy(() -> store.combine(store.snapshots(), new double[] {0.5, 0.5}, Map.of(),
                dir.resolve("x.safetensors")))
                .isInstanceOf(SnapshotFormatException.class)
                .hasMessageContaining("missing b").hasMessageContaining("unexpected c");
    }

    @Test
    void combineRefusesADamagedSnapshot(@TempDir Path dir) throws Exception {
        SnapshotStore store = SnapshotStore.create(dir);
        store.save(1, 7.0, List.of(tensor("w", 1)));
        Path file = store.pathOf(store.snapshots().get(0));
        byte[] bytes = Files.readAllBytes(file);
        bytes[bytes.length - 1] ^= 1;
        Files.write(file, bytes);
        assertThatThrownBy(() -> store.combine(store.snapshots(), new double[] {1}, Map.of(),
                dir.resolve("x.safetensors")))
                .isInstanceOf(SnapshotFormatException.class).hasMessageContaining("SHA-256");
    }

    @Test
    void eachSnapshotRecordsItsAveragedTensorsAndACombinationCarriesThem(@TempDir Path dir) throws Exception {
        SnapshotStore store = SnapshotStore.create(dir);
        store.save(1, 7.0, List.of(tensor("w", 1), copied("running", 2), tensor("b", 3)));
        store.save(2, 7.0, List.of(tensor("w", 3), copied("running", 4), tensor("b", 5)));
        assertThat(store.averaged(store.snapshots())).containsExactly("w", "b");
        try (SafetensorsFile f = SafetensorsFile.open(store.pathOf(store.snapshots().get(1)))) {
            assertThat(f.metadata()).containsEntry(SnapshotStore.AVERAGED_KEY, "[\"w\",\"b\"]");
        }
        assertThat(store.combined(store.snapshots(), new double[] {0.5, 0.5}))
                .extracting(SnapshotStore.Float32Tensor::name, SnapshotStore.Float32Tensor::averaged)
                .containsExactly(org.assertj.core.groups.Tuple.tuple("w", true),
                        org.assertj.core.groups.Tuple.tuple("running", false),
                        org.assertj.core.groups.Tuple.tuple("b", true));
        Path out = dir.resolve("combined.safetensors");
        store.combine(store.snapshots(), new double[] {0.5, 0.5}, Map.of("step", "2"), out);
        try (SafetensorsFile f = SafetensorsFile.open(out)) {
            assertThat(f.metadata()).containsEntry(SnapshotStore.AVERAGED_KEY, "[\"w\",\"b\"]")
                    .containsEntry("step", "2");
        }
    }

    @Test
    void snapshotsThatAverageDifferentTensorsAreNotCombined(@TempDir Path dir) throws Exception {
        SnapshotStore store = SnapshotStore.create(dir);
        store.save(1, 7.0, List.of(tensor("w", 1), tensor("b", 2)));
        store.save(2, 7.0, List.of(tensor("w", 1), copied("b", 2)));
        assertThatThrownBy(() -> store.combined(store.snapshots(), new double[] {0.5, 0.5}))
                .isInstanceOf(SnapshotFormatException.class)
                .hasMessageContaining("snapshots must average the same tensors, but this file averages [w] and");
        assertThatThrownBy(() -> store.averaged(store.snapshots()))
                .isInstanceOf(SnapshotFormatException.class)
                .hasMessageContaining("snapshots must average the same tensors, but this file averages [w] and");
    }

    @Test
    void aFormatOneDirectoryIsRefusedSayingToRecordAgain(@TempDir Path dir) throws Exception {
        SnapshotStore.create(dir).save(1, 7.0, List.of(tensor("w", 1)));
        Path manifest = dir.resolve(SnapshotStore.MANIFEST_FILE);
        Files.writeString(manifest, Files.readString(manifest).replace("\"formatVersion\" : 2",
                "\"formatVersion\" : 1"));
        assertThatThrownBy(() -> SnapshotStore.open(dir)).isInstanceOf(SnapshotFormatException.class)
                .hasMessage(manifest + ": formatVersion must be 2, was 1: these snapshots do not record which"
                        + " tensors are averaged, so they cannot be reconstructed; record them again with this version"
                        + " (train --posthoc-every N)");
    }

    @Test
    void aSnapshotFileWithoutItsAveragedListIsRefused(@TempDir Path dir) throws Exception {
        SnapshotStore store = SnapshotStore.create(dir);
        Snapshot saved = store.save(1, 7.0, List.of(tensor("w", 1)));
        Path file = store.pathOf(saved);
        ema4j.io.safetensors.SafetensorsWriter.create().metadata("format", "pt")
                .tensor("w", "F32", new long[] {1}, tensor("w", 1).data()).write(file);
        Path manifest = dir.resolve(SnapshotStore.MANIFEST_FILE);
        Files.writeString(manifest, Files.readString(manifest).replace(saved.sha256(), SnapshotStore.sha256(file)));
        SnapshotStore reopened = SnapshotStore.open(dir);
        assertThatThrownBy(() -> reopened.averaged(reopened.snapshots()))
                .isInstanceOf(SnapshotFormatException.class)
                .hasMessage(file + ": no ema4j.averaged entry: the file does not record which tensors are averaged,"
                        + " so it cannot be reconstructed; record the snapshots again with this version"
                        + " (train --posthoc-every N)");
        assertThatThrownBy(() -> reopened.combined(reopened.snapshots(), new double[] {1}))
                .isInstanceOf(SnapshotFormatException.class).hasMessageContaining("no ema4j.averaged entry");
    }

    @Test
    void badArgumentsAreRefusedWithTheirNames(@TempDir Path dir) throws Exception {
        SnapshotStore store = SnapshotStore.create(dir);
        assertThatThrownBy(() -> store.save(0, 7.0, List.of(tensor("w", 1))))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("step must be >= 1, was 0");
        assertThatThrownBy(() -> store.save(1, Double.NaN, List.of(tensor("w", 1))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("gamma must be");
        store.save(1, 7.0, List.of(tensor("w", 1)));
        assertThatThrownBy(() -> store.combine(store.snapshots(), new double[] {Double.NaN}, Map.of(),
                dir.resolve("x.safetensors")))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("every weight must be finite");
        assertThatThrownBy(() -> SnapshotStore.open(dir.resolve("nothing")))
                .isInstanceOf(SnapshotFormatException.class).hasMessageContaining("snapshots.json");
    }
}
