package ema4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ema4j.cli.report.EvaluationRow;
import ema4j.cli.report.MetricsWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** End to end: the real DJL engine trains the real CNN on a committed 2,000-image Fashion-MNIST subset. */
class TrainCommandTest {

    /** {@code args} followed by {@code more}. */
    private static String[] with(String[] args, String... more) {
        return java.util.stream.Stream.concat(java.util.Arrays.stream(args), java.util.Arrays.stream(more))
                .toArray(String[]::new);
    }

    private static String[] trainArgs(Path out, String epochs) {
        return new String[] {"train", "--data", CliRun.SUBSET.toString(), "--train-limit", "2000", "--test-limit",
            "500", "--epochs", epochs, "--batch-size", "32", "--eval-every", "50", "--seed", "7", "--out",
            out.toString()};
    }

    @Test
    void trainingOnASubsetWritesFiniteMetricsPlotsAndBothModels(@TempDir Path out) throws Exception {
        CliRun run = CliRun.of(trainArgs(out, "4"));
        assertThat(run.exitCode()).as(run.err()).isZero();
        assertThat(run.out()).contains("EMA").contains("raw");
        for (String file : List.of("metrics.csv", "metrics.json", "loss.png", "accuracy.png", "decay.png",
                "models/fmnist-raw-0000.params", "models/fmnist-ema-0000.params")) {
            assertThat(out.resolve(file)).isRegularFile();
            assertThat(Files.size(out.resolve(file))).isPositive();
        }
        try (java.util.stream.Stream<Path> entries = Files.list(out)) {
            assertThat(entries.map(p -> p.getFileName().toString())).as("the models' staging folder is gone")
                    .noneMatch(name -> name.startsWith(".models-"));
        }
        List<EvaluationRow> rows = MetricsWriter.readCsv(out.resolve("metrics.csv"));
        assertThat(rows).hasSizeGreaterThanOrEqualTo(5);
        assertThat(rows.get(rows.size() - 1).step()).isEqualTo(252);
        for (EvaluationRow row : rows) {
            assertThat(List.of(row.trainLoss(), row.rawTestLoss(), row.rawTestAccuracy(), row.emaTestLoss(),
                    row.emaTestAccuracy(), row.decay())).allMatch(Double::isFinite);
        }
        EvaluationRow last = rows.get(rows.size() - 1);
        assertThat(last.rawTestAccuracy()).isGreaterThan(0.5);
        assertThat(last.emaTestAccuracy()).isGreaterThan(0.5);
        assertThat(rows.stream().anyMatch(r -> r.emaTestLoss() != r.rawTestLoss())).isTrue();

        CliRun evaluate = CliRun.of("evaluate", out.resolve("models").toString(), "--data",
                CliRun.SUBSET.toString(), "--test-limit", "500");
        assertThat(evaluate.exitCode()).as(evaluate.err()).isZero();
        assertThat(evaluate.out()).contains(String.format("%.2f%%", 100 * last.rawTestAccuracy()))
                .contains(String.format("%.2f%%", 100 * last.emaTestAccuracy()));
    }

    @Test
    void theSameSeedGivesTheSameMetrics(@TempDir Path dir) throws Exception {
        assertThat(CliRun.of(trainArgs(dir.resolve("a"), "1")).exitCode()).isZero();
        assertThat(CliRun.of(trainArgs(dir.resolve("b"), "1")).exitCode()).isZero();
        List<EvaluationRow> a = MetricsWriter.readCsv(dir.resolve("a/metrics.csv"));
        List<EvaluationRow> b = MetricsWriter.readCsv(dir.resolve("b/metrics.csv"));
        assertThat(b).hasSameSizeAs(a);
        for (int i = 0; i < a.size(); i++) {
            assertThat(b.get(i)).usingRecursiveComparison().ignoringFields("elapsedSeconds").isEqualTo(a.get(i));
        }
    }

    @Test
    void negativeEpochsAreOneLineAndANonZeroExit(@TempDir Path out) {
        CliRun run = CliRun.of("train", "--epochs", "-1", "--data", CliRun.SUBSET.toString(), "--out", out.toString());
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().strip()).isEqualTo("ema4j: --epochs must be >= 1, was -1");
    }

    @Test
    void aFreshRunIntoAnOutWithCheckpointsIsRefusedAndDeletesNothing(@TempDir Path out) throws Exception {
        assertThat(CliRun.of(trainArgs(out, "1")).exitCode()).isZero();
        Path checkpoints = out.resolve("checkpoints");
        java.util.List<Path> before;
        try (java.util.stream.Stream<Path> listing = java.nio.file.Files.list(checkpoints)) {
            before = listing.sorted().toList();
        }
        assertThat(before).isNotEmpty();
        CliRun again = CliRun.of(trainArgs(out, "1"));
        assertThat(again.exitCode()).isEqualTo(2);
        assertThat(again.err().strip()).startsWith("ema4j: the checkpoint directory must be one without checkpoints"
                + " for a fresh run (resume them, or choose another directory), was " + checkpoints
                + ", which holds checkpoints up to step ");
        try (java.util.stream.Stream<Path> listing = java.nio.file.Files.list(checkpoints)) {
            assertThat(listing.sorted().toList()).isEqualTo(before);
        }
    }

    @Test
    void resumingFromAnOlderCheckpointThanTheNewestIsRefusedAndDeletesNothing(@TempDir Path out) throws Exception {
        String[] args = with(trainArgs(out, "1"), "--checkpoint-every", "20");
        assertThat(CliRun.of(args).exitCode()).isZero();
        Path checkpoints = out.resolve("checkpoints");
        java.util.List<Path> before;
        try (java.util.stream.Stream<Path> listing = java.nio.file.Files.list(checkpoints)) {
            before = listing.sorted().toList();
        }
        Path older = checkpoints.resolve("step-000000000040");
        assertThat(before).contains(older);
        String[] resume = with(args, "--resume", older.toString());
        CliRun run = CliRun.of(resume);
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().strip()).startsWith("ema4j: the checkpoint to resume must be the newest of the checkpoint"
                + " directory, step 63");
        try (java.util.stream.Stream<Path> listing = java.nio.file.Files.list(checkpoints)) {
            assertThat(listing.sorted().toList()).isEqualTo(before);
        }
    }

    @Test
    void aSecondTrainingIntoAnOutInUseIsOneLineAndANonZeroExit(@TempDir Path out) throws Exception {
        try (ema4j.io.DirectoryLock first = ema4j.io.DirectoryLock.acquire(out, "a training")) {
            CliRun run = CliRun.of(trainArgs(out, "1"));
            assertThat(run.exitCode()).isEqualTo(2);
            assertThat(run.err().strip()).isEqualTo("ema4j: " + out + " is in use by a training that is still running"
                    + " (pid " + ProcessHandle.current().pid() + ", holding " + out.resolve(".lock")
                    + "); wait for it to end or choose another directory");
        }
    }

    @Test
    void aBatchLargerThanTheDataSetIsOneLineAndANonZeroExit(@TempDir Path out) {
        CliRun run = CliRun.of("train", "--batch-size", "2147483647", "--data", CliRun.SUBSET.toString(), "--out",
                out.toString());
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().strip()).isEqualTo("ema4j: --batch-size must be at most the 2000 training images, was"
                + " 2147483647");
    }

    @Test
    void anOutThatIsAFileIsOneLineAndANonZeroExit(@TempDir Path dir) throws Exception {
        Path file = java.nio.file.Files.writeString(dir.resolve("notes.txt"), "a user's notes");
        CliRun run = CliRun.of(trainArgs(file, "1"));
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().strip()).isEqualTo("ema4j: not a directory: " + file);
        assertThat(file).hasContent("a user's notes");
        CliRun missing = CliRun.of("evaluate", "--data", CliRun.SUBSET.toString(), dir.resolve("nowhere").toString());
        assertThat(missing.err().strip()).as(missing.err()).doesNotContain("Exception").startsWith("ema4j: ");
        assertThat(missing.exitCode()).isEqualTo(2);
    }

    @Test
    void aResumeThatChangesTheTrajectoryIsRefusedListingTheDifferencesUnlessAccepted(@TempDir Path out)
            throws Exception {
        assertThat(CliRun.of(trainArgs(out, "1")).exitCode()).isZero();
        String[] changed = with(trainArgs(out, "1"), "--resume", "latest", "--lr", "0.1", "--momentum", "0.5");
        CliRun refused = CliRun.of(changed);
        assertThat(refused.exitCode()).isEqualTo(2);
        assertThat(refused.err().strip()).isEqualTo("ema4j: the settings of a resumed run must be the checkpoint's,"
                + " for an exact continuation (add --accept-changed-settings to change them on purpose), was 2"
                + " different: --lr 0.05 in the checkpoint, 0.1 now; --momentum 0.9 in the checkpoint, 0.5 now");
        String[] accepted = with(changed, "--accept-changed-settings");
        assertThat(CliRun.of(accepted).exitCode()).isZero();
        // more epochs of a constant learning rate train the same run longer: no difference to refuse
        String[] longer = with(trainArgs(out, "2"), "--resume", "latest");
        CliRun run = CliRun.of(longer);
        assertThat(run.exitCode()).as(run.err()).isZero();
    }

    @Test
    void anEmptyOutAndRepeatedPostHocLengthsAreRefusedNotIgnored(@TempDir Path out) {
        CliRun empty = CliRun.of("train", "--data", CliRun.SUBSET.toString(), "--out", "");
        assertThat(empty.exitCode()).isEqualTo(2);
        assertThat(empty.err().strip()).isEqualTo("ema4j: --out must be a directory's path (an empty one would write"
                + " into the current directory), was \"\"");
        CliRun twice = CliRun.of("train", "--data", CliRun.SUBSET.toString(), "--out", out.toString(),
                "--posthoc-every", "10", "--posthoc-sigma-rel", "0.05,0.05");
        assertThat(twice.exitCode()).isEqualTo(2);
        assertThat(twice.err().strip()).isEqualTo("ema4j: --posthoc-sigma-rel must be distinct values, was [0.05,"
                + " 0.05]");
    }

    @Test
    void aDamagedNewestCheckpointIsNamedAndKeptInsteadOfSkippedAndOverwritten(@TempDir Path out) throws Exception {
        String[] args = with(trainArgs(out, "1"), "--checkpoint-every", "20");
        assertThat(CliRun.of(args).exitCode()).isZero();
        Path newest = out.resolve("checkpoints/step-000000000063");
        Files.writeString(newest.resolve("manifest.json"), "{ damaged");
        String[] resume = with(args, "--resume", "latest");
        CliRun run = CliRun.of(resume);
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().strip()).startsWith("ema4j: the checkpoint directory must be free of damaged checkpoints"
                + " newer than the one to resume (move them out to resume from step 60; nothing is deleted for you),"
                + " was " + out.resolve("checkpoints") + ", which holds step-000000000063 (");
        assertThat(newest.resolve("manifest.json")).hasContent("{ damaged");
    }

    @Test
    void evaluatingAFolderWithoutModelsIsOneLineAndANonZeroExit(@TempDir Path empty) {
        CliRun run = CliRun.of("evaluate", empty.toString(), "--data", CliRun.SUBSET.toString());
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().strip()).isEqualTo("ema4j: MODELS must hold fmnist-raw-0000.params or"
                + " fmnist-ema-0000.params (train writes them to OUT/models), was " + empty + ", which holds neither");
    }

    /** Replaces {@code file} of the checkpoint and updates the manifest's size and SHA-256, as an editor would. */
    private static void reseal(Path checkpoint, String file, String content) throws Exception {
        Files.writeString(checkpoint.resolve(file), content);
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode manifest = (com.fasterxml.jackson.databind.node.ObjectNode)
                json.readTree(checkpoint.resolve("manifest.json").toFile());
        for (com.fasterxml.jackson.databind.JsonNode entry : manifest.path("files")) {
            if (entry.path("name").asText().equals(file)) {
                byte[] bytes = Files.readAllBytes(checkpoint.resolve(file));
                ((com.fasterxml.jackson.databind.node.ObjectNode) entry).put("bytes", bytes.length)
                        .put("sha256", java.util.HexFormat.of().formatHex(java.security.MessageDigest
                                .getInstance("SHA-256").digest(bytes)));
            }
        }
        json.writeValue(checkpoint.resolve("manifest.json").toFile(), manifest);
    }

    @Test
    void aResealedStateWithAWrongFieldIsRefusedNamingItByResumeAndByInspect(@TempDir Path out) throws Exception {
        assertThat(CliRun.of(trainArgs(out, "1")).exitCode()).isZero();
        Path checkpoint = out.resolve("checkpoints/step-000000000063");
        String state = Files.readString(checkpoint.resolve("state.json"));
        String[] resume = with(trainArgs(out, "1"), "--resume", "latest");
        for (String[] damage : new String[][] {
            {"\"batchInEpoch\" : 0", "\"batchInEpoch\" : -1", "training.position.batchInEpoch must be a whole"
                    + " number >= 0, was -1"},
            {"\"updates\" : 63", "\"updates\" : \"abc\"", "ema.updates must be a whole number >= 0, was \"abc\""},
            {"\"nonFinite\" : \"FAIL\"", "\"nonFinite\" : \"MAYBE\"", "ema.nonFinite must be one of FAIL, SKIP, was"
                    + " \"MAYBE\""},
            {"\"skippedUpdates\" : 0", "\"skippedUpdates\" : 0, \"spare\" : 1", "ema must have only the fields"
                    + " [averaged, lastDecay, nonFinite, schedule, skippedUpdates, updates], was one more: spare"},
            {"\"type\" : \"CheckpointableSgd\"", "\"type\" : \"Adagrad\"", "optimizer.type must be one of"
                    + " CheckpointableSgd, CheckpointableAdam, was \"Adagrad\""},
            {"\"format\" : 1", "\"format\" : 7", "training.format must be 1 (this library's), was 7"}}) {
            assertThat(state).contains(damage[0]);
            reseal(checkpoint, "state.json", state.replace(damage[0], damage[1]));
            CliRun run = CliRun.of(resume);
            assertThat(run.exitCode()).as(run.err()).isEqualTo(2);
            assertThat(run.err().strip()).isEqualTo("ema4j: " + checkpoint + ": state.json: " + damage[2]);
            CliRun inspect = CliRun.of("inspect", checkpoint.toString());
            assertThat(inspect.exitCode()).as(inspect.err()).isEqualTo(2);
            assertThat(inspect.err().strip()).isEqualTo("ema4j: " + checkpoint + ": state.json: " + damage[2]);
        }
    }

    @Test
    void aDamagedModelOrWeightsFileIsOneLineAndANonZeroExit(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("fmnist-ema-0000.params"), "cut short");
        CliRun evaluate = CliRun.of("evaluate", dir.toString(), "--data", CliRun.SUBSET.toString());
        assertThat(evaluate.exitCode()).isEqualTo(2);
        assertThat(evaluate.err().strip()).isEqualTo("ema4j: " + dir.resolve("fmnist-ema-0000.params") + " is not a"
                + " model of this CNN: parameter 01Conv2d_weight is missing (the file is cut short or of another"
                + " model)");
        Path hostile = Files.write(dir.resolve("weights.safetensors"), new byte[] {-1, -1, -1, -1, -1, -1, -1, 127});
        CliRun recalibrate = CliRun.of("recalibrate-bn", hostile.toString(), "--into", dir.resolve("out").toString(),
                "--data", CliRun.SUBSET.toString());
        assertThat(recalibrate.exitCode()).isEqualTo(2);
        assertThat(recalibrate.err().lines()).hasSize(1);
        assertThat(recalibrate.err()).startsWith("ema4j: " + hostile + ": header length");
    }

    @Test
    void moreThreadsThanTheMachineHasAreOneLineAndANonZeroExit(@TempDir Path out) {
        CliRun run = CliRun.of("train", "--threads", "100000", "--data", CliRun.SUBSET.toString(), "--out",
                out.toString());
        int cores = Runtime.getRuntime().availableProcessors();
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().strip()).isEqualTo("ema4j: --threads must be in [1, " + cores + "], was 100000");
    }

    @Test
    void aTrainingThatDivergesStopsWithOneLineNamingTheWeight(@TempDir Path out) {
        CliRun run = CliRun.of("train", "--data", CliRun.SUBSET.toString(), "--train-limit", "200", "--test-limit",
                "100", "--epochs", "1", "--batch-size", "50", "--lr", "1e30", "--out", out.toString());
        assertThat(run.exitCode()).as(run.err()).isEqualTo(2);
        assertThat(run.err().strip()).doesNotContain("\n").startsWith("ema4j: weight ").contains("is not finite at EMA"
                + " update");
    }

    @Test
    void anUnknownPresetOrOptimizerIsRefusedBeforeTraining(@TempDir Path out) {
        CliRun run = CliRun.of("train", "--preset", "huge", "--data", CliRun.SUBSET.toString(), "--out",
                out.toString());
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().strip()).isEqualTo("ema4j: Invalid value for option '--preset': expected one of"
                + " [LONG, SHORT] (case-insensitive) but was 'huge' (see 'ema4j train --help')");
        CliRun optimizer = CliRun.of("train", "--optimizer", "adagrad", "--data", CliRun.SUBSET.toString(), "--out",
                out.toString());
        assertThat(optimizer.exitCode()).isEqualTo(2);
        assertThat(optimizer.err().strip()).isEqualTo("ema4j: Invalid value for option '--optimizer': expected one"
                + " of [SGD, ADAM] (case-insensitive) but was 'adagrad' (see 'ema4j train --help')");
    }

    @Test
    void aDataDirWithoutTheFilesSaysWhatToInstall(@TempDir Path empty) {
        CliRun run = CliRun.of("train", "--data", empty.toString(), "--out", empty.resolve("out").toString());
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().lines()).hasSize(1);
        assertThat(run.err()).contains("apt-get install dataset-fashion-mnist").contains(empty.toString());
    }
}
