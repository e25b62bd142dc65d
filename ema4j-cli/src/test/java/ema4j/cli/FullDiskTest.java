package ema4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ema4j.io.checkpoint.Checkpoint;
import ema4j.io.checkpoint.CheckpointStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Training into a real, small file system that fills up, and into a read-only one: every failure is one line and
 * exit code 2, no half-written temporary folder is left holding the space, and what was saved before is intact.
 * Mounting a tmpfs needs root (as in CI); elsewhere these tests are skipped, saying so.
 */
class FullDiskTest {
    @TempDir
    Path dir;

    private Path disk;

    /** Mounts a tmpfs of {@code kibibytes} at {@code disk}, or skips the test where that is not allowed. */
    private void mount(int kibibytes) throws Exception {
        disk = dir.resolve("disk");
        Files.createDirectories(disk);
        Assumptions.assumeTrue(run("mount", "-t", "tmpfs", "-o", "size=" + kibibytes + "k", "tmpfs",
                disk.toString()) == 0, "skipped: mounting a small tmpfs needs root (CI runs as root)");
    }

    @AfterEach
    void unmount() throws Exception {
        if (disk != null) {
            run("umount", disk.toString());
        }
    }

    private static int run(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getInputStream().readAllBytes();
        return p.waitFor(30, TimeUnit.SECONDS) ? p.exitValue() : -1;
    }

    private static String[] train(Path out, String... extra) {
        List<String> args = new ArrayList<>(List.of("train", "--data", CliRun.SUBSET.toString(), "--train-limit",
                "2000", "--test-limit", "100", "--epochs", "1", "--batch-size", "32", "--eval-every", "1000",
                "--seed", "3", "--out", out.toString()));
        args.addAll(List.of(extra));
        return args.toArray(String[]::new);
    }

    private static List<String> hidden(Path directory) throws IOException {
        if (!Files.isDirectory(directory)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(directory)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.startsWith(".tmp-") || n.startsWith(".old-")
                    || n.startsWith(".models-")).toList();
        }
    }

    @Test
    void aCheckpointThatDoesNotFitIsOneLineAndLeavesTheEarlierOneIntact() throws Exception {
        mount(4096);
        Path out = disk.resolve("run");
        // one checkpoint of the CNN (model, EMA, optimizer) is about 2.5 MB of the 4.2 MB
        CliRun run = CliRun.of(train(out, "--checkpoint-every", "20", "--keep-last", "1"));
        assertThat(run.exitCode()).as(run.err()).isEqualTo(2);
        assertThat(run.err().strip()).doesNotContain("\n").startsWith("ema4j: ")
                .containsIgnoringCase("no space left on device")
                .contains("while writing the checkpoint of step 40", "the earlier checkpoints are intact");
        Path checkpoints = out.resolve("checkpoints");
        assertThat(hidden(checkpoints)).isEmpty();
        Checkpoint intact = CheckpointStore.at(checkpoints, 1).latest().orElseThrow();
        assertThat(intact.step()).isEqualTo(20);
        Checkpoint.open(intact.directory());
    }

    @Test
    void modelsThatDoNotFitAreOneLineAndLeaveNoHalfWrittenPair() throws Exception {
        mount(3700);
        Path out = disk.resolve("run");
        // the final checkpoint (2.5 MB) fits in the 3.8 MB, the two models after it (1.7 MB) do not
        CliRun run = CliRun.of(train(out, "--checkpoint-every", "0"));
        assertThat(run.exitCode()).as(run.err()).isEqualTo(2);
        assertThat(run.err().strip()).doesNotContain("\n").startsWith("ema4j: ")
                .containsIgnoringCase("no space left on device");
        assertThat(hidden(out)).isEmpty();
        try (Stream<Path> models = Files.list(out.resolve("models"))) {
            assertThat(models.toList()).as("no model written alone").isEmpty();
        }
        assertThat(CheckpointStore.at(out.resolve("checkpoints"), 1).latest()).isPresent();
    }

    @Test
    void aReadOnlyOutIsOneLineBeforeTraining() throws Exception {
        mount(1024);
        assertThat(run("mount", "-o", "remount,ro", disk.toString())).isZero();
        CliRun run = CliRun.of(train(disk.resolve("run")));
        assertThat(run.exitCode()).as(run.err()).isEqualTo(2);
        assertThat(run.err().strip()).doesNotContain("\n").startsWith("ema4j: ")
                .containsIgnoringCase("read-only file system").contains(disk.resolve("run").toString());
    }
}
