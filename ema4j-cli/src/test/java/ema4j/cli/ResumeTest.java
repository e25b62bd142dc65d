package ema4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ema4j.cli.train.TrainingSession;
import ema4j.io.checkpoint.Checkpoint;
import ema4j.io.checkpoint.CheckpointStore;
import ema4j.io.checkpoint.Manifest;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Exact resume and crash safety, with training in separate JVMs that are killed with SIGKILL
 * ({@link Process#destroyForcibly()} on Linux).
 */
class ResumeTest {
    private static final long FINAL_STEP = 126; // 2 epochs of 63 batches of 32 from 2,000 images

    private static List<String> train(Path out, String... extra) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", classPath(), "-Dai.djl.offline=true", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                Ema4j.class.getName(), "train", "--data", CliRun.SUBSET.toString(), "--train-limit", "2000",
                "--test-limit", "100", "--epochs", "2", "--batch-size", "32", "--eval-every", "1000", "--seed", "5",
                "--threads", "2", "--out", out.toString()));
        cmd.addAll(List.of(extra));
        return cmd;
    }

    private static String classPath() {
        String surefire = System.getProperty("surefire.test.class.path");
        return surefire != null ? surefire : System.getProperty("java.class.path");
    }

    private static Process start(List<String> command, Path log) throws Exception {
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private static void runToEnd(List<String> command, Path log) throws Exception {
        Process p = start(command, log);
        assertThat(p.waitFor(5, TimeUnit.MINUTES)).isTrue();
        assertThat(p.exitValue()).as(Files.readString(log)).isZero();
    }

    /** Waits until the store holds a checkpoint of at least {@code step}, then kills the JVM at once. */
    private static void killAfter(Process p, Path out, long step) throws Exception {
        CheckpointStore store = CheckpointStore.at(out.resolve(TrainingSession.CHECKPOINTS), 3);
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (System.nanoTime() < deadline && p.isAlive()) {
            if (newestStep(store.root()) >= step) {
                break;
            }
            Thread.sleep(20);
        }
        p.destroyForcibly().waitFor();
    }

    private static long newestStep(Path root) throws Exception {
        try (Stream<Path> s = Files.list(root)) {
            return s.mapToLong(CheckpointStore::stepOf).max().orElse(-1);
        }
    }

    private static Map<String, String> hashes(Checkpoint checkpoint) {
        return checkpoint.manifest().files().stream().filter(f -> f.name().endsWith(".safetensors"))
                .collect(Collectors.toMap(Manifest.FileEntry::name, Manifest.FileEntry::sha256));
    }

    @Test
    void aRunKilledAndResumedEndsBitIdenticalToAnUninterruptedOne(@TempDir Path dir) throws Exception {
        Path straight = dir.resolve("straight");
        runToEnd(train(straight, "--checkpoint-every", "20"), dir.resolve("straight.log"));

        Path interrupted = dir.resolve("interrupted");
        Process first = start(train(interrupted, "--checkpoint-every", "20"), dir.resolve("first.log"));
        killAfter(first, interrupted, 40);
        Checkpoint killedAt = CheckpointStore.at(interrupted.resolve(TrainingSession.CHECKPOINTS), 3).latest()
                .orElseThrow();
        assertThat(killedAt.step()).isBetween(40L, FINAL_STEP - 1);
        runToEnd(train(interrupted, "--checkpoint-every", "20", "--resume", "latest"), dir.resolve("second.log"));
        assertThat(Files.readString(dir.resolve("second.log"))).contains("resumed from");

        Checkpoint a = CheckpointStore.at(straight.resolve(TrainingSession.CHECKPOINTS), 3).latest().orElseThrow();
        Checkpoint b = CheckpointStore.at(interrupted.resolve(TrainingSession.CHECKPOINTS), 3).latest().orElseThrow();
        assertThat(a.step()).isEqualTo(FINAL_STEP);
        assertThat(b.step()).isEqualTo(FINAL_STEP);
        assertThat(hashes(b)).containsOnlyKeys("model.safetensors", "ema.safetensors", "optimizer.safetensors")
                .isEqualTo(hashes(a));
    }

    @Test
    void killsDuringSavesNeverLeaveABrokenCheckpoint(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        boolean resume = false;
        for (long step : new long[] {5, 23, 61}) {
            List<String> command = resume
                    ? train(out, "--checkpoint-every", "1", "--keep-last", "2", "--resume", "latest")
                    : train(out, "--checkpoint-every", "1", "--keep-last", "2");
            resume = true;
            Process p = start(command, dir.resolve("run-" + step + ".log"));
            killAfter(p, out, step);
            Path root = out.resolve(TrainingSession.CHECKPOINTS);
            try (Stream<Path> entries = Files.list(root)) {
                for (Path d : entries.filter(e -> CheckpointStore.stepOf(e) >= 0).toList()) {
                    Checkpoint.open(d); // every visible checkpoint is complete and verified
                }
            }
            assertThat(CheckpointStore.at(root, 2).latest()).isPresent();
        }
        runToEnd(train(out, "--checkpoint-every", "1", "--keep-last", "2", "--resume", "latest"),
                dir.resolve("final.log"));
        assertThat(CheckpointStore.at(out.resolve(TrainingSession.CHECKPOINTS), 2).latest().orElseThrow().step())
                .isEqualTo(FINAL_STEP);
        File[] left = out.resolve(TrainingSession.CHECKPOINTS).toFile().listFiles();
        // two checkpoints and the lock file of the training that held the directory
        assertThat(left).extracting(File::getName).filteredOn(n -> !n.equals(ema4j.io.DirectoryLock.FILE))
                .allMatch(n -> n.startsWith("step-")).hasSize(2);
    }
}
