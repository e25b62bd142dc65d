package com.example.ema4j;

import static org.assertj.core.api.Assertions.assertThat;

import ema4j.io.checkpoint.Checkpoint;
import ema4j.io.checkpoint.CheckpointStore;
import ema4j.io.checkpoint.Manifest;
import ema4j.io.posthoc.SnapshotStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The resumable training, killed with SIGKILL in a JVM of its own and started again, against an unbroken run. */
class ResumableTrainingTest {
    private static final long LAST_STEP = 80; // 2 epochs of 40 batches of 50 from 2,000 images

    @Test
    void aRunKilledAndStartedAgainEndsBitIdenticalToAnUninterruptedOne(@TempDir Path dir) throws Exception {
        Path straight = dir.resolve("straight");
        runToEnd(straight, dir.resolve("straight.log"));
        Path out = dir.resolve("killed");
        Process p = start(out, dir.resolve("killed.log"));
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (System.nanoTime() < deadline && p.isAlive() && newestStep(out) < 20) {
            Thread.sleep(10);
        }
        p.destroyForcibly().waitFor();
        assertThat(newestStep(out)).as("killed mid-run").isBetween(20L, LAST_STEP - 1);
        runToEnd(out, dir.resolve("again.log"));
        assertThat(Files.readString(dir.resolve("again.log"))).contains("step 80: raw");

        Map<String, String> expected = hashes(latest(straight));
        assertThat(expected).containsKeys("model.safetensors", "ema.safetensors", "optimizer.safetensors");
        assertThat(hashes(latest(out))).isEqualTo(expected);
        assertThat(SnapshotStore.open(out.resolve("posthoc")).snapshots())
                .isEqualTo(SnapshotStore.open(straight.resolve("posthoc")).snapshots());
    }

    private static Process start(Path out, Path log) throws Exception {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        return new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                classPath, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", ResumableTraining.class.getName(),
                Data.FASHION_MNIST_SUBSET.toString(), out.toString()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
    }

    private static void runToEnd(Path out, Path log) throws Exception {
        Process p = start(out, log);
        assertThat(p.waitFor(5, TimeUnit.MINUTES)).isTrue();
        assertThat(p.exitValue()).as(Files.readString(log)).isZero();
    }

    private static long newestStep(Path out) throws Exception {
        Path root = out.resolve("checkpoints");
        if (!Files.isDirectory(root)) {
            return -1;
        }
        try (Stream<Path> s = Files.list(root)) {
            return s.mapToLong(CheckpointStore::stepOf).max().orElse(-1);
        }
    }

    private static Checkpoint latest(Path out) throws Exception {
        Checkpoint last = CheckpointStore.at(out.resolve("checkpoints"), 2).latest().orElseThrow();
        assertThat(last.step()).isEqualTo(LAST_STEP);
        return last;
    }

    private static Map<String, String> hashes(Checkpoint checkpoint) {
        return checkpoint.manifest().files().stream().filter(f -> f.name().endsWith(".safetensors"))
                .collect(Collectors.toMap(Manifest.FileEntry::name, Manifest.FileEntry::sha256));
    }
}
