package ema4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ema4j.io.posthoc.Snapshot;
import ema4j.io.posthoc.SnapshotStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Post-hoc EMAs travel in checkpoints: a run that records snapshots and is resumed from a checkpoint records exactly
 * the snapshots of a run that was never interrupted, and the snapshots its crash left behind after the checkpoint are
 * recorded anew.
 */
class PostHocResumeTest {
    @TempDir
    static Path whole;

    /** 20 steps (2 epochs of 10 batches), snapshots every 3 steps and at the end, checkpoints every 5. */
    private static List<String> args(Path out, String... more) {
        List<String> args = new ArrayList<>(List.of("train", "--data", CliRun.SUBSET.toString(), "--train-limit",
                "640", "--test-limit", "100", "--epochs", "2", "--batch-size", "64", "--eval-every", "1000", "--seed",
                "3", "--checkpoint-every", "5", "--keep-last", "10", "--posthoc-every", "3", "--out", out.toString()));
        args.addAll(List.of(more));
        return args;
    }

    @BeforeAll
    static void trainWithoutInterruption() {
        CliRun train = CliRun.of(args(whole).toArray(String[]::new));
        assertThat(train.exitCode()).as(train.err()).isZero();
    }

    private static void copy(Path from, Path to) throws IOException {
        try (Stream<Path> files = Files.walk(from)) {
            for (Path p : files.toList()) {
                Path target = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                } else {
                    Files.copy(p, target);
                }
            }
        }
    }

    private static void delete(Path dir) throws IOException {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }

    @Test
    void aRunResumedFromACheckpointRecordsTheSnapshotsOfAnUninterruptedRun(@TempDir Path crashed) throws Exception {
        // The state a crash at step 17 leaves: checkpoints up to step 15, snapshots up to step 15, the last of them
        // damaged; the resumed run goes back to the checkpoint at step 10.
        copy(whole, crashed);
        delete(crashed.resolve("checkpoints/step-000000000015"));
        delete(crashed.resolve("checkpoints/step-000000000020"));
        delete(crashed.resolve("models"));
        SnapshotStore left = SnapshotStore.open(crashed.resolve("posthoc"));
        left.discardAfter(15);
        Snapshot damaged = left.snapshots().get(left.snapshots().size() - 1);
        assertThat(damaged.step()).isEqualTo(15);
        Files.write(left.pathOf(damaged), new byte[] {1, 2, 3});

        CliRun resumed = CliRun.of(args(crashed, "--resume", "latest").toArray(String[]::new));

        assertThat(resumed.exitCode()).as(resumed.err()).isZero();
        List<Snapshot> expected = SnapshotStore.open(whole.resolve("posthoc")).snapshots();
        List<Snapshot> actual = SnapshotStore.open(crashed.resolve("posthoc")).snapshots();
        assertThat(expected).extracting(Snapshot::step)
                .containsExactly(3L, 3L, 6L, 6L, 9L, 9L, 12L, 12L, 15L, 15L, 18L, 18L, 20L, 20L);
        // same steps, EMAs and SHA-256 of every file: the resumed EMAs continued bit-exactly
        assertThat(actual).containsExactlyInAnyOrderElementsOf(expected);
        for (String file : List.of("posthoc-ema0.safetensors", "posthoc-ema1.safetensors", "ema.safetensors")) {
            assertThat(Files.readAllBytes(crashed.resolve("checkpoints/step-000000000020").resolve(file)))
                    .as(file).isEqualTo(Files.readAllBytes(whole.resolve("checkpoints/step-000000000020").resolve(file)));
        }
    }

    @Test
    void resumingWithOtherPostHocLengthsIsRefusedNamingTheCheckpoints(@TempDir Path other) throws Exception {
        copy(whole, other);
        CliRun resumed = CliRun.of(args(other, "--resume", "latest", "--posthoc-sigma-rel", "0.05,0.2")
                .toArray(String[]::new));
        assertThat(resumed.exitCode()).isEqualTo(2);
        assertThat(resumed.err().strip()).isEqualTo("ema4j: --posthoc-sigma-rel must be the checkpoint's [0.05, 0.1]"
                + " to resume, was [0.05, 0.2]");
    }

    @Test
    void recordingFromACheckpointOfARunThatRecordedNothingIsRefused(@TempDir Path plain) {
        List<String> train = List.of("train", "--data", CliRun.SUBSET.toString(), "--train-limit", "128",
                "--test-limit", "100", "--epochs", "1", "--batch-size", "64", "--out", plain.toString());
        CliRun first = CliRun.of(train.toArray(String[]::new));
        assertThat(first.exitCode()).as(first.err()).isZero();
        List<String> resume = new ArrayList<>(train);
        resume.addAll(List.of("--resume", "latest", "--posthoc-every", "3"));
        CliRun resumed = CliRun.of(resume.toArray(String[]::new));
        assertThat(resumed.exitCode()).isEqualTo(2);
        assertThat(resumed.err().strip()).startsWith("ema4j: --posthoc-every must be absent to resume from ")
                .endsWith(", was 3 (that run recorded no post-hoc snapshots; resume without it, or start a new run)");
    }
}
