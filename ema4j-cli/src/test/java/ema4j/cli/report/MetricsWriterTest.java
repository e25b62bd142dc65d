package ema4j.cli.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MetricsWriterTest {
    private static final double NAN = Double.NaN;
    private static final List<EvaluationRow> ROWS = List.of(
            new EvaluationRow(0, 0, NAN, 2.302585, 0.1, 2.302585, 0.1, 0.0, 0.0),
            new EvaluationRow(469, 1, 0.5123456789012345, 0.45, 0.8391, 0.43, 0.8472, 0.9993, 12.25),
            new EvaluationRow(938, 2, 0.38, 0.41, 0.8555, 0.39, 0.8622, 1e-4, 24.5));
    private static final List<EvaluationRow> ROWS_WITHOUT_EMA = List.of(
            new EvaluationRow(0, 0, NAN, 2.3, 0.1, NAN, NAN, NAN, 0.0),
            new EvaluationRow(469, 1, 0.51, 0.45, 0.84, NAN, NAN, NAN, 12.0));
    private static final List<TrainLossPoint> TRAIN_LOSS = List.of(
            new TrainLossPoint(1, 2.31), new TrainLossPoint(2, NAN), new TrainLossPoint(3, 2.05));

    @TempDir
    Path dir;

    @Test
    void theCsvRoundTripGivesBackTheExactRows() throws IOException {
        MetricsWriter writer = new MetricsWriter(dir);

        writer.write(Map.of(), ROWS, TRAIN_LOSS, Map.of());

        assertThat(MetricsWriter.readCsv(writer.csvFile())).isEqualTo(ROWS);
    }

    @Test
    void theCsvRoundTripKeepsNaNAsNaN() throws IOException {
        MetricsWriter writer = new MetricsWriter(dir);

        writer.write(Map.of(), ROWS_WITHOUT_EMA, List.of(), Map.of());

        List<EvaluationRow> read = MetricsWriter.readCsv(writer.csvFile());
        assertThat(read).isEqualTo(ROWS_WITHOUT_EMA);   // records compare doubles bit-wise, so NaN equals NaN
        assertThat(read.get(1).emaTestAccuracy()).isNaN();
    }

    @Test
    void theCsvHasTheFixedHeaderAndEmptyCellsForNaN() throws IOException {
        MetricsWriter writer = new MetricsWriter(dir);

        writer.write(Map.of(), ROWS_WITHOUT_EMA, List.of(), Map.of());

        assertThat(Files.readAllLines(writer.csvFile(), StandardCharsets.UTF_8)).containsExactly(
                "step,epoch,train_loss,raw_test_loss,raw_test_accuracy,ema_test_loss,ema_test_accuracy,decay,"
                        + "elapsed_s",
                "0,0,,2.3,0.1,,,,0.0",
                "469,1,0.51,0.45,0.84,,,,12.0");
    }

    @Test
    void theJsonHasConfigEvaluationsTrainLossAndSummaryWithNaNAsNull() throws IOException {
        MetricsWriter writer = new MetricsWriter(dir);
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("epochs", 2);
        config.put("schedule", "warmup(power=0.75)");
        config.put("ema", true);
        Map<String, Object> summary = SummaryTable.of(ROWS).toMap();

        writer.write(config, ROWS, TRAIN_LOSS, summary);

        JsonNode json = new ObjectMapper().readTree(writer.jsonFile().toFile());
        assertThat(json.fieldNames()).toIterable()
                .containsExactly("config", "evaluations", "train_loss", "summary");
        assertThat(json.get("config").get("epochs").asInt()).isEqualTo(2);
        assertThat(json.get("config").get("schedule").asText()).isEqualTo("warmup(power=0.75)");
        JsonNode first = json.get("evaluations").get(0);
        assertThat(first.fieldNames()).toIterable().containsExactlyElementsOf(MetricsWriter.CSV_COLUMNS);
        assertThat(first.get("train_loss").isNull()).isTrue();
        JsonNode second = json.get("evaluations").get(1);
        assertThat(second.get("step").asLong()).isEqualTo(469);
        assertThat(second.get("train_loss").asDouble()).isEqualTo(0.5123456789012345);
        assertThat(second.get("ema_test_accuracy").asDouble()).isEqualTo(0.8472);
        assertThat(second.get("elapsed_s").asDouble()).isEqualTo(12.25);
        assertThat(json.get("evaluations")).hasSize(3);
        assertThat(json.get("train_loss")).hasSize(3);
        assertThat(json.get("train_loss").get(0).get("step").asLong()).isEqualTo(1);
        assertThat(json.get("train_loss").get(0).get("loss").asDouble()).isEqualTo(2.31);
        assertThat(json.get("train_loss").get(1).get("loss").isNull()).isTrue();
        assertThat(json.get("summary").get("final_ema_test_accuracy").asDouble()).isEqualTo(0.8622);
    }

    @Test
    void theJsonOfARunWithoutEmaHasNullEmaMetrics() throws IOException {
        MetricsWriter writer = new MetricsWriter(dir);

        writer.write(Map.of(), ROWS_WITHOUT_EMA, List.of(), SummaryTable.of(ROWS_WITHOUT_EMA).toMap());

        JsonNode json = new ObjectMapper().readTree(writer.jsonFile().toFile());
        assertThat(json.get("evaluations").get(1).get("ema_test_loss").isNull()).isTrue();
        assertThat(json.get("evaluations").get(1).get("decay").isNull()).isTrue();
        assertThat(json.get("summary").get("ema_gain_pp").isNull()).isTrue();
        assertThat(json.get("train_loss")).isEmpty();
    }

    @Test
    void writingAgainReplacesBothFilesAndLeavesNoTemporarySiblings() throws IOException {
        MetricsWriter writer = new MetricsWriter(dir);
        writer.write(Map.of(), ROWS, TRAIN_LOSS, Map.of());

        writer.write(Map.of(), ROWS.subList(0, 1), TRAIN_LOSS.subList(0, 1), Map.of());

        assertThat(MetricsWriter.readCsv(writer.csvFile())).isEqualTo(ROWS.subList(0, 1));
        assertThat(new ObjectMapper().readTree(writer.jsonFile().toFile()).get("train_loss")).hasSize(1);
        try (Stream<Path> files = Files.list(dir)) {
            assertThat(files.map(file -> file.getFileName().toString()))
                    .containsExactlyInAnyOrder("metrics.csv", "metrics.json");
        }
    }

    @Test
    void aMissingRunDirectoryIsCreated() throws IOException {
        MetricsWriter writer = new MetricsWriter(dir.resolve("runs/first"));

        writer.write(Map.of(), ROWS, TRAIN_LOSS, Map.of());

        assertThat(writer.csvFile()).isRegularFile().hasFileName("metrics.csv");
        assertThat(writer.jsonFile()).isRegularFile().hasFileName("metrics.json");
    }

    @Test
    void readingAFileWithAnotherHeaderFailsNamingTheLine() throws IOException {
        Path csv = Files.writeString(dir.resolve("other.csv"), "step,loss\n1,0.5\n");

        assertThatThrownBy(() -> MetricsWriter.readCsv(csv)).isInstanceOf(IOException.class)
                .hasMessageContaining("line 1 must be \"step,epoch,train_loss,")
                .hasMessageEndingWith("was \"step,loss\"");
    }

    @Test
    void readingARowWithMissingOrBadCellsFailsNamingTheLine() throws IOException {
        String header = String.join(",", MetricsWriter.CSV_COLUMNS) + "\n";
        Path shortRow = Files.writeString(dir.resolve("short.csv"), header + "0,0,,2.3,0.1,,,,0.0\n1,0,0.5\n");
        Path badNumber = Files.writeString(dir.resolve("bad.csv"), header + "0,0,x,2.3,0.1,,,,0.0\n");

        assertThatThrownBy(() -> MetricsWriter.readCsv(shortRow)).isInstanceOf(IOException.class)
                .hasMessageEndingWith("line 3 must have 9 columns, was 3");
        assertThatThrownBy(() -> MetricsWriter.readCsv(badNumber)).isInstanceOf(IOException.class)
                .hasMessageContaining("line 2 must be a metrics row, was \"0,0,x,");
    }

    @Test
    void nullArgumentsAreRejectedByName() {
        MetricsWriter writer = new MetricsWriter(dir);

        assertThatThrownBy(() -> writer.write(Map.of(), null, List.of(), Map.of()))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("rows must be non-null, was null");
        assertThatThrownBy(() -> new MetricsWriter(null))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("directory must be non-null, was null");
    }
}
