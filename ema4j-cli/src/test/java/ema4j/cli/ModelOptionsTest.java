package ema4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import ema4j.cli.report.EvaluationRow;
import ema4j.cli.report.MetricsWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --model}: the ResNet and the ViT train end to end on the committed subset, and load only as themselves. */
class ModelOptionsTest {
    @TempDir
    static Path resnet;

    /** Eight steps of 32 images, evaluated on 100: seconds, not minutes. */
    private static String[] trainArgs(Path out, String model, String... more) {
        List<String> args = new java.util.ArrayList<>(List.of("train", "--model", model, "--data",
                CliRun.SUBSET.toString(), "--train-limit", "256", "--test-limit", "100", "--epochs", "1",
                "--batch-size", "32", "--eval-every", "4", "--seed", "7", "--out", out.toString()));
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    @BeforeAll
    static void trainTheResNet() {
        CliRun run = CliRun.of(trainArgs(resnet, "resnet", "--posthoc-every", "2", "--posthoc-sigma-rel", "0.05,0.10"));
        assertThat(run.exitCode()).as(run.err()).isZero();
    }

    /** What evaluate printed: its raw and its EMA line. */
    private static List<String> evaluate(Path models, String model) {
        CliRun run = CliRun.of("evaluate", "--model", model, models.toString(), "--data", CliRun.SUBSET.toString(),
                "--test-limit", "100");
        assertThat(run.exitCode()).as(run.err()).isZero();
        return run.out().lines().filter(l -> l.startsWith("raw") || l.startsWith("EMA")).toList();
    }

    /** Evaluating the saved models reproduces the run's last evaluation, and the EMA's is not the raw weights'. */
    private static void assertEvaluateReadsBackTwoDifferentModels(Path out, String model) throws Exception {
        EvaluationRow last = MetricsWriter.readCsv(out.resolve("metrics.csv")).get(1);
        List<String> lines = evaluate(out.resolve("models"), model);
        assertThat(lines).hasSize(2);
        assertThat(lines.get(0)).contains(String.format(Locale.ROOT, "%.4f", last.rawTestLoss()));
        assertThat(lines.get(1)).contains(String.format(Locale.ROOT, "%.4f", last.emaTestLoss()));
        assertThat(last.emaTestLoss()).isNotEqualTo(last.rawTestLoss());
        assertThat(new ObjectMapper().readTree(out.resolve("metrics.json").toFile()).findValue("model").asText())
                .isEqualTo(model);
    }

    @Test
    void theResNetTrainsSavesBothModelsAndEvaluatesThemBack() throws Exception {
        assertEvaluateReadsBackTwoDifferentModels(resnet, "resnet");
    }

    @Test
    void theVitTrainsWithDropoutSavesBothModelsAndEvaluatesThemBack(@TempDir Path vit) throws Exception {
        CliRun run = CliRun.of(trainArgs(vit, "vit", "--dropout", "0.1", "--posthoc-every", "2",
                "--posthoc-sigma-rel", "0.05,0.10"));
        assertThat(run.exitCode()).as(run.err()).isZero();
        assertEvaluateReadsBackTwoDifferentModels(vit, "vit");

        // a tracked length, reconstructed exactly and saved as a ViT (nothing to recalibrate), evaluates
        Path posthoc = vit.resolve("posthoc-out");
        CliRun reconstruct = CliRun.of("posthoc", "--model", "vit", "--snapshots", vit.resolve("posthoc").toString(),
                "--sigma-rel", "0.10", "--models", "--out", posthoc.toString());
        assertThat(reconstruct.exitCode()).as(reconstruct.err()).isZero();
        assertThat(reconstruct.out()).contains("no BatchNorm in --model vit")
                .contains("relative L2 error 0.000e+00 on the averaged parameters");
        List<String> lines = evaluate(posthoc.resolve("models-sigma0.100"), "vit");
        assertThat(lines).hasSize(2);
        assertThat(lines.get(0)).matches("raw +- +-");
        assertThat(lines.get(1)).matches("EMA +[0-9.]+ +[0-9.]+%");
    }

    @Test
    void thePostHocSweepEvaluatesResNetReconstructionsBesideTheRunsModelsAndCompareReportsTheBest()
            throws Exception {
        CliRun before = CliRun.of("compare", resnet.toString());
        assertThat(before.exitCode()).as(before.err()).isZero();
        assertThat(before.out()).contains("EMA gain in final accuracy", "| the same, 2nd half of the run")
                .doesNotContain("post-hoc");

        Path out = resnet.resolve("sweep");
        CliRun sweep = CliRun.of("posthoc", "sweep", "--model", "resnet", "--snapshots",
                resnet.resolve("posthoc").toString(), "--sigma-rel", "0.05,0.10", "--bn-batches", "2", "--batch-size",
                "32", "--data", CliRun.SUBSET.toString(), "--train-limit", "256", "--test-limit", "100", "--out",
                out.toString());
        assertThat(sweep.exitCode()).as(sweep.err()).isZero();
        List<String> raw = evaluate(resnet.resolve("models"), "resnet");
        String rawAccuracy = raw.get(0).replaceAll(".* ([0-9.]+%).*", "$1");
        assertThat(sweep.out()).contains("BatchNorm recalibrated over 2 batches")
                .containsPattern("(?m)^0\\.050 .*%$").containsPattern("(?m)^0\\.100 .*%$")
                .containsPattern("(?m)^raw .*" + java.util.regex.Pattern.quote(rawAccuracy) + "$")
                .containsPattern("(?m)^run's EMA .*%$")
                .contains("--model resnet --out DIR --models");
        assertThat(out.resolve("posthoc-sweep.png")).isNotEmptyFile();

        List<String> csv = java.nio.file.Files.readAllLines(out.resolve("posthoc-sweep.csv"));
        String[] best = csv.subList(1, csv.size()).stream().map(l -> l.split(","))
                .max(java.util.Comparator.comparingDouble((String[] cells) -> Double.parseDouble(cells[4])))
                .orElseThrow();
        double rawFraction = MetricsWriter.readCsv(resnet.resolve("metrics.csv")).get(1).rawTestAccuracy();
        CliRun compare = CliRun.of("compare", resnet.toString());
        assertThat(compare.exitCode()).as(compare.err()).isZero();
        assertThat(compare.out()).contains(String.format(Locale.ROOT, "sigma_rel chosen on the test set: %.3f):"
                + " final test accuracy %.2f ± 0.00 %%, gain over raw %.2f ± 0.00 percentage points",
                Double.parseDouble(best[0]), 100 * Double.parseDouble(best[4]),
                100 * Double.parseDouble(best[4]) - 100 * rawFraction));
    }

    @Test
    void reconstructingIntoAnotherModelIsOneLineNamingTheOption(@TempDir Path out) {
        CliRun run = CliRun.of("posthoc", "--model", "cnn", "--snapshots", resnet.resolve("posthoc").toString(),
                "--sigma-rel", "0.10", "--models", "--bn-batches", "0", "--out", out.toString());
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().lines()).hasSize(1);
        assertThat(run.err()).startsWith("ema4j: --model must be the classifier whose training recorded "
                + resnet.resolve("posthoc") + ", was cnn: ");
    }

    @Test
    void loadingTheResNetAsAnotherModelIsOneLineNamingBoth() {
        CliRun run = CliRun.of("evaluate", "--model", "cnn", resnet.resolve("models").toString(), "--data",
                CliRun.SUBSET.toString(), "--test-limit", "100");
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().strip()).isEqualTo("ema4j: --model must be resnet, the model "
                + resnet.resolve("models/fmnist-raw-0000.params") + " holds, was cnn");
    }

    @Test
    void resumingWithAnotherModelIsRefusedNamingTheDifference() {
        CliRun run = CliRun.of(trainArgs(resnet, "cnn", "--resume", "latest"));
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().lines()).hasSize(1);
        assertThat(run.err()).contains("was 1 different: --model resnet in the checkpoint, cnn now");
    }

    @Test
    void dropoutOutsideTheVitAndRecalibratingTheVitAreRefused(@TempDir Path out) {
        CliRun dropout = CliRun.of(trainArgs(out, "cnn", "--dropout", "0.1"));
        assertThat(dropout.exitCode()).isEqualTo(2);
        assertThat(dropout.err().strip()).isEqualTo("ema4j: --dropout must be 0 for --model cnn (only vit has"
                + " dropout), was 0.1");
        CliRun recalibrate = CliRun.of("recalibrate-bn", "--model", "vit", resnet.resolve("models").toString(),
                "--data", CliRun.SUBSET.toString());
        assertThat(recalibrate.exitCode()).isEqualTo(2);
        assertThat(recalibrate.err().strip()).isEqualTo("ema4j: --model must be a model with BatchNorm (cnn or"
                + " resnet), was vit");
    }
}
