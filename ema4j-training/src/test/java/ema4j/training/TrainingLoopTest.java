package ema4j.training;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.Model;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import ema4j.io.checkpoint.Checkpoint;
import ema4j.io.checkpoint.CheckpointStore;
import ema4j.io.checkpoint.Manifest;
import ema4j.io.posthoc.SnapshotStore;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The training loop end to end on the committed Fashion-MNIST subset, in this JVM and in killed child JVMs. */
class TrainingLoopTest {

    /** Runs the subset training in this JVM to its end and returns the loop's evaluations and losses. */
    private static Result train(Path out, UnaryOperator<TrainingLoop.Builder> change) throws Exception {
        List<TrainingProgress> steps = new ArrayList<>();
        List<Checkpoint> saved = new ArrayList<>();
        try (Model model = Model.newInstance("subset")) {
            model.setBlock(SubsetRun.block());
            TrainingLoop.Listener listener = new TrainingLoop.Listener() {
                @Override
                public void onStep(TrainingProgress progress) {
                    steps.add(progress);
                }

                @Override
                public void onCheckpoint(Checkpoint checkpoint) {
                    saved.add(checkpoint);
                }
            };
            try (TrainingLoop loop = change.apply(SubsetRun.builder(model, out, b -> b.listener(listener))).build()) {
                loop.run();
                double difference = 0;
                for (Pair<String, Parameter> p : model.getBlock().getParameters()) {
                    ByteBuffer ema = ByteBuffer.allocate(Math.toIntExact(p.getValue().getArray().size() * 4))
                            .order(ByteOrder.LITTLE_ENDIAN);
                    loop.ema().readEmaWeight(p.getKey(), ema);
                    float[] raw = p.getValue().getArray().toFloatArray();
                    for (int i = 0; i < raw.length; i++) {
                        difference = Math.max(difference, Math.abs(raw[i] - ema.getFloat(4 * i)));
                    }
                }
                return new Result(loop.evaluations(), loop.trainLoss(), steps, saved, difference);
            }
        }
    }

    private record Result(List<EvaluationRecord> evaluations, List<Double> trainLoss, List<TrainingProgress> steps,
            List<Checkpoint> checkpoints, double largestEmaDifference) {}

    /** The evaluations without their wall-clock seconds, which differ between runs. */
    private static List<List<Object>> withoutTimes(List<EvaluationRecord> records) {
        return records.stream().map(r -> List.<Object>of(r.step(), r.epoch(), r.trainLoss(), r.raw(), r.ema(),
                r.decay())).toList();
    }

    @Test
    void aRunTrainsEvaluatesRawAndEmaWeightsAndCheckpoints(@TempDir Path out) throws Exception {
        Result run = train(out, b -> b);
        assertThat(run.steps()).hasSize((int) SubsetRun.STEPS);
        assertThat(run.steps().get(63)).isEqualTo(new TrainingProgress(64, 64, 2, 2, run.trainLoss().get(63), 2000));
        // every 20 steps and at the end of each 32-step epoch
        assertThat(run.evaluations()).extracting(EvaluationRecord::step).containsExactly(20L, 32L, 40L, 60L, 64L);
        EvaluationRecord last = run.evaluations().get(4);
        assertThat(last.raw().metric("Accuracy")).isGreaterThan(0.5);
        assertThat(last.ema().metric("Accuracy")).isGreaterThan(0.5);
        assertThat(last.ema().loss()).isNotEqualTo(last.raw().loss());
        assertThat(last.decay()).isBetween(0.5, 0.999);
        assertThat(run.largestEmaDifference()).isGreaterThan(1e-4);
        assertThat(run.checkpoints()).extracting(Checkpoint::step).endsWith(60L, 64L);
        assertThat(CheckpointStore.at(out.resolve("checkpoints"), 2).list()).extracting(Checkpoint::step)
                .containsExactly(64L, 60L);
        assertThat(SnapshotStore.open(out.resolve("posthoc")).snapshots()).hasSize(2 * 7);
    }

    @Test
    void aResumedRunContinuesTheLossesEvaluationsAndWeightsOfTheUninterruptedOne(@TempDir Path dir) throws Exception {
        Result straight = train(dir.resolve("straight"), b -> b);
        Path out = dir.resolve("split");
        // one epoch, then a second loop that resumes it and trains the other
        train(out, b -> b.trainingData(SubsetRun.data(ema4j.demo.data.Split.TRAIN, 1000), SubsetRun.BATCH, 1));
        Result resumed = train(out, b -> b.resume(Resume.latest()));
        assertThat(resumed.steps()).extracting(TrainingProgress::step).first().isEqualTo(33L);
        assertThat(resumed.trainLoss()).isEqualTo(straight.trainLoss());
        assertThat(withoutTimes(resumed.evaluations())).isEqualTo(withoutTimes(straight.evaluations()));
        assertThat(safetensorsHashes(latest(out))).isEqualTo(safetensorsHashes(latest(dir.resolve("straight"))));
    }

    @Test
    void latestIfAnyStartsAfreshInAnEmptyDirectoryAndResumesWhereACheckpointIs(@TempDir Path out) throws Exception {
        Result fresh = train(out, b -> b.resume(Resume.latestIfAny())
                .trainingData(SubsetRun.data(ema4j.demo.data.Split.TRAIN, 1000), SubsetRun.BATCH, 1));
        assertThat(fresh.steps()).extracting(TrainingProgress::step).first().isEqualTo(1L);
        Result resumed = train(out, b -> b.resume(Resume.latestIfAny()));
        assertThat(resumed.steps()).extracting(TrainingProgress::step).first().isEqualTo(33L);
    }

    @Test
    void aBatchPreparationSeesEveryBatchWithASeedOfTheRunAndTheStep(@TempDir Path dir) throws Exception {
        List<List<Long>> seeds = new ArrayList<>();
        for (String run : new String[] {"a", "b"}) {
            List<Long> drawn = new ArrayList<>();
            seeds.add(drawn);
            train(dir.resolve(run), b -> b.trainingData(SubsetRun.data(ema4j.demo.data.Split.TRAIN, 1000),
                    SubsetRun.BATCH, 1).batchPreparation((batch, seed) -> {
                        drawn.add(seed);
                        return new TrainingLoop.Prepared(batch.getData(), batch.getLabels());
                    }));
        }
        assertThat(seeds.get(0)).hasSize(32).doesNotHaveDuplicates().isEqualTo(seeds.get(1));
    }

    @Test
    void aFreshRunIntoADirectoryWithCheckpointsIsRefusedAndDeletesNothing(@TempDir Path out) throws Exception {
        train(out, b -> b.trainingData(SubsetRun.data(ema4j.demo.data.Split.TRAIN, 1000), SubsetRun.BATCH, 1));
        List<Path> before = listing(out.resolve("checkpoints"));
        assertThatThrownBy(() -> train(out, b -> b)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("the checkpoint directory must be one without checkpoints for a fresh run (resume them, or"
                        + " choose another directory), was " + out.resolve("checkpoints") + ", which holds"
                        + " checkpoints up to step 32");
        assertThat(listing(out.resolve("checkpoints"))).isEqualTo(before);
    }

    @Test
    void aResumeWithOtherSettingsIsRefusedNamingEachDifferenceUnlessAccepted(@TempDir Path out) throws Exception {
        train(out, b -> b.trainingData(SubsetRun.data(ema4j.demo.data.Split.TRAIN, 1000), SubsetRun.BATCH, 1)
                .trajectory(Map.of("learning rate", 0.001)));
        assertThatThrownBy(() -> train(out, b -> b.resume(Resume.latest()).seed(12)
                .trajectory(Map.of("learning rate", 0.002))))
                .isInstanceOfSatisfying(ChangedSettingsException.class, e -> assertThat(e.differences())
                        .containsExactly("seed 11 in the checkpoint, 12 now",
                                "learning rate 0.001 in the checkpoint, 0.002 now"));
        Result accepted = train(out, b -> b.resume(Resume.latest()).trajectory(Map.of("learning rate", 0.002))
                .acceptChangedSettings(true));
        assertThat(accepted.steps()).extracting(TrainingProgress::step).first().isEqualTo(33L);
    }

    @Test
    void refusalsNameWhatIsWrong(@TempDir Path out) throws Exception {
        assertThatThrownBy(() -> train(out, b -> b.resume(Resume.latest())))
                .hasMessage("resume latest must be used where a complete checkpoint is, was none in "
                        + out.resolve("checkpoints"));
        train(out, b -> b.trainingData(SubsetRun.data(ema4j.demo.data.Split.TRAIN, 1000), SubsetRun.BATCH, 1));
        assertThatThrownBy(() -> train(out, b -> b.resume(Resume.latest()).ema(null)))
                .hasMessage("the EMA must be configured to resume " + latest(out).directory() + ", which has, was"
                        + " absent");
        try (Model model = Model.newInstance("subset")) {
            model.setBlock(SubsetRun.block());
            assertThatThrownBy(() -> TrainingLoop.builder(model).build()).hasMessage("loss must be set, was missing");
            assertThatThrownBy(() -> TrainingLoop.builder(model).trainingData(SubsetRun.data(
                    ema4j.demo.data.Split.TRAIN, 10), 0, 1)).hasMessage("batchSize must be >= 1, was 0");
        }
    }

    @Test
    void aResumeKeepsTheRunIdAndAForkIntoAnotherDirectoryGetsItsOwn(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("run");
        train(out, b -> b.trainingData(SubsetRun.data(ema4j.demo.data.Split.TRAIN, 1000), SubsetRun.BATCH, 1));
        String first = latest(out).manifest().runId();
        Result resumed = train(out, b -> b.resume(Resume.latest()));
        assertThat(resumed.checkpoints()).extracting(c -> c.manifest().runId()).containsOnly(first);
        Path older = CheckpointStore.at(out.resolve("checkpoints"), 2).list().get(1).directory();
        assertThatThrownBy(() -> train(out, b -> b.resume(Resume.from(older))))
                .hasMessageStartingWith("the checkpoint to resume must be the newest of the checkpoint directory, step"
                        + " 64 (to fork the run from an older one, resume it into another, empty checkpoint directory;"
                        + " nothing is deleted for you)");
        Result fork = train(dir.resolve("fork"), b -> b.resume(Resume.from(older)));
        assertThat(fork.checkpoints()).extracting(c -> c.manifest().runId()).doesNotContain(first).hasSize(1);
        assertThat(CheckpointStore.at(out.resolve("checkpoints"), 2).list()).hasSize(2);
    }

    @Test
    void aRunKilledAndResumedInAnotherJvmEndsBitIdenticalToAnUninterruptedOne(@TempDir Path dir) throws Exception {
        Path straight = dir.resolve("straight");
        runToEnd(straight, "fresh", dir.resolve("straight.log"));
        Path out = dir.resolve("killed");
        Process p = start(out, "fresh", dir.resolve("killed.log"));
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
        while (System.nanoTime() < deadline && p.isAlive() && newestStep(out.resolve("checkpoints")) < 23) {
            Thread.sleep(10);
        }
        p.destroyForcibly().waitFor();
        assertThat(newestStep(out.resolve("checkpoints"))).as("killed before the end").isBetween(23L, 63L);
        runToEnd(out, "resume", dir.resolve("resumed.log"));
        assertThat(latest(out).step()).isEqualTo(SubsetRun.STEPS);
        Map<String, String> expected = safetensorsHashes(latest(straight));
        assertThat(expected).containsKeys("model.safetensors", "ema.safetensors", "optimizer.safetensors",
                "posthoc-ema0.safetensors", "posthoc-ema1.safetensors");
        assertThat(safetensorsHashes(latest(out))).isEqualTo(expected);
        assertThat(evaluationsWithoutTimes(latest(out))).isEqualTo(evaluationsWithoutTimes(latest(straight)));
        assertThat(SnapshotStore.open(out.resolve("posthoc")).snapshots())
                .isEqualTo(SnapshotStore.open(straight.resolve("posthoc")).snapshots());
    }

    private static Process start(Path out, String mode, Path log) throws Exception {
        String classPath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        return new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                classPath, "-Dai.djl.offline=true", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                SubsetRun.class.getName(), out.toString(), mode).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
    }

    private static void runToEnd(Path out, String mode, Path log) throws Exception {
        Process p = start(out, mode, log);
        assertThat(p.waitFor(5, TimeUnit.MINUTES)).isTrue();
        assertThat(p.exitValue()).as(Files.readString(log)).isZero();
    }

    private static long newestStep(Path root) throws Exception {
        if (!Files.isDirectory(root)) {
            return -1;
        }
        try (Stream<Path> s = Files.list(root)) {
            return s.mapToLong(CheckpointStore::stepOf).max().orElse(-1);
        }
    }

    private static Checkpoint latest(Path out) throws Exception {
        return CheckpointStore.at(out.resolve("checkpoints"), 2).latest().orElseThrow();
    }

    private static Map<String, String> safetensorsHashes(Checkpoint checkpoint) {
        return checkpoint.manifest().files().stream().filter(f -> f.name().endsWith(".safetensors"))
                .collect(Collectors.toMap(Manifest.FileEntry::name, Manifest.FileEntry::sha256));
    }

    /** The checkpoint's evaluations as saved, without the seconds, which differ between runs. */
    private static JsonNode evaluationsWithoutTimes(Checkpoint checkpoint) throws Exception {
        JsonNode evaluations = checkpoint.json(TrainingCheckpoint.STATE).path("training").path("evaluations");
        evaluations.forEach(e -> ((ObjectNode) e).remove("seconds"));
        assertThat(evaluations).hasSize(5);
        return evaluations;
    }

    private static List<Path> listing(Path dir) throws Exception {
        try (Stream<Path> s = Files.list(dir)) {
            return s.sorted().toList();
        }
    }
}
