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
    void moreThreadsThanTheMachineHasAreOneLineAndANonZeroExit(@TempDir Path out) {
        CliRun run = CliRun.of("train", "--threads", "100000", "--data", CliRun.SUBSET.toString(), "--out",
                out.toString());
        int cores = Runtime.getRuntime().availableProcessors();
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().strip()).isEqualTo("ema4j: --threads must be in [1, " + cores + "], was 100000");
    }

    @Test
    void anUnknownPresetIsRefusedBeforeTraining(@TempDir Path out) {
        CliRun run = CliRun.of("train", "--preset", "huge", "--data", CliRun.SUBSET.toString(), "--out",
                out.toString());
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().strip()).isEqualTo("ema4j: preset must be one of long, short, was huge");
    }

    @Test
    void aDataDirWithoutTheFilesSaysWhatToInstall(@TempDir Path empty) {
        CliRun run = CliRun.of("train", "--data", empty.toString(), "--out", empty.resolve("out").toString());
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().lines()).hasSize(1);
        assertThat(run.err()).contains("apt-get install dataset-fashion-mnist").contains(empty.toString());
    }
}
