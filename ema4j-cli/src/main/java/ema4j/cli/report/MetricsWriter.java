package ema4j.cli.report;

import static ema4j.core.internal.Preconditions.requireArgument;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.StreamWriteFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import ema4j.io.AtomicFiles;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Writes the metrics of one training run into its directory: {@value #CSV_FILE_NAME} for spreadsheets and plots,
 * {@value #JSON_FILE_NAME} for tools that also want the configuration, the per-batch training loss and the summary.
 *
 * <p>The CSV has the header {@link #CSV_COLUMNS} and one line per {@link EvaluationRow}; a NaN metric is an empty
 * cell. The JSON is an object with {@code "config"}, {@code "evaluations"} (one object per row, keyed by the same
 * column names), {@code "train_loss"} ({@code {"step", "loss"}} objects) and {@code "summary"}; in the rows and
 * the training loss a NaN or infinite metric is {@code null}, as JSON has no such numbers. Numbers are written in
 * Java's shortest round-trip form, so {@link #readCsv} gives back the exact doubles.
 *
 * <p>Each file is replaced atomically ({@link AtomicFiles}): a reader, or a run killed mid-write, sees the previous
 * complete file or the new one. Instances are immutable and safe to share; concurrent writes of one directory each
 * succeed and the last one wins.
 */
public final class MetricsWriter {
    /** The name of the CSV file inside the run directory. */
    public static final String CSV_FILE_NAME = "metrics.csv";
    /** The name of the JSON file inside the run directory. */
    public static final String JSON_FILE_NAME = "metrics.json";
    /** The CSV header and the keys of each JSON evaluation object, in the order of {@link EvaluationRow}'s fields. */
    public static final List<String> CSV_COLUMNS = List.of("step", "epoch", "train_loss", "raw_test_loss",
            "raw_test_accuracy", "ema_test_loss", "ema_test_accuracy", "decay", "elapsed_s");

    // AtomicFiles owns the channel and forces it after we return, so the generator must not close it.
    private static final ObjectMapper JSON = JsonMapper.builder().disable(StreamWriteFeature.AUTO_CLOSE_TARGET)
            .build();

    private final Path directory;

    /**
     * Creates a writer for one run directory; nothing is written until {@link #write}.
     *
     * @param directory where the files go; created by {@link #write} when missing
     */
    public MetricsWriter(Path directory) {
        requireArgument(directory != null, "directory", "non-null", null);
        this.directory = directory;
    }

    /**
     * Returns where the CSV file is written.
     *
     * @return {@code directory/metrics.csv}
     */
    public Path csvFile() {
        return directory.resolve(CSV_FILE_NAME);
    }

    /**
     * Returns where the JSON file is written.
     *
     * @return {@code directory/metrics.json}
     */
    public Path jsonFile() {
        return directory.resolve(JSON_FILE_NAME);
    }

    /**
     * Writes both files, replacing earlier versions; call it after each evaluation to keep them current.
     *
     * @param config the run's settings, serialized by Jackson as they are (keys in the map's iteration order)
     * @param rows the evaluations so far, in step order
     * @param trainLoss the per-batch training loss so far, in step order
     * @param summary the run's summary, e.g. {@link SummaryTable#toMap()}, serialized by Jackson as it is
     * @throws IOException when the directory cannot be created or a file cannot be written; the old files stay
     */
    public void write(Map<String, ?> config, List<EvaluationRow> rows, List<TrainLossPoint> trainLoss,
            Map<String, ?> summary) throws IOException {
        requireArgument(config != null, "config", "non-null", null);
        requireArgument(rows != null, "rows", "non-null", null);
        requireArgument(trainLoss != null, "trainLoss", "non-null", null);
        requireArgument(summary != null, "summary", "non-null", null);
        Files.createDirectories(directory);
        AtomicFiles.write(csvFile(), channel -> writeCsv(rows, channel));
        AtomicFiles.write(jsonFile(), channel -> writeJson(config, rows, trainLoss, summary, channel));
    }

    /**
     * Reads the rows of a CSV file written by {@link #write}; empty cells come back as NaN.
     *
     * @param file the CSV file
     * @return the rows in file order, mutable
     * @throws IOException when the file cannot be read or is not a metrics CSV (wrong header, wrong column count,
     *         unparseable number); the message names the line
     */
    public static List<EvaluationRow> readCsv(Path file) throws IOException {
        requireArgument(file != null, "file", "non-null", null);
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        String header = String.join(",", CSV_COLUMNS);
        if (lines.isEmpty() || !lines.get(0).equals(header)) {
            throw new IOException(file + " line 1 must be \"" + header + "\", was "
                    + (lines.isEmpty() ? "an empty file" : "\"" + lines.get(0) + "\""));
        }
        List<EvaluationRow> rows = new ArrayList<>(lines.size() - 1);
        for (int i = 1; i < lines.size(); i++) {
            if (lines.get(i).isEmpty()) {
                continue;
            }
            rows.add(parseRow(lines.get(i), file + " line " + (i + 1)));
        }
        return rows;
    }

    private static EvaluationRow parseRow(String line, String where) throws IOException {
        String[] cells = line.split(",", -1);
        if (cells.length != CSV_COLUMNS.size()) {
            throw new IOException(where + " must have " + CSV_COLUMNS.size() + " columns, was " + cells.length);
        }
        try {
            return new EvaluationRow(Long.parseLong(cells[0]), Integer.parseInt(cells[1]), parseMetric(cells[2]),
                    parseMetric(cells[3]), parseMetric(cells[4]), parseMetric(cells[5]), parseMetric(cells[6]),
                    parseMetric(cells[7]), parseMetric(cells[8]));
        } catch (IllegalArgumentException e) {   // NumberFormatException is one
            throw new IOException(where + " must be a metrics row, was \"" + line + "\": " + e.getMessage(), e);
        }
    }

    private static double parseMetric(String cell) {
        return cell.isEmpty() ? Double.NaN : Double.parseDouble(cell);
    }

    private static void writeCsv(List<EvaluationRow> rows, FileChannel channel) throws IOException {
        Writer out = new BufferedWriter(new OutputStreamWriter(Channels.newOutputStream(channel),
                StandardCharsets.UTF_8));
        out.write(String.join(",", CSV_COLUMNS));
        out.write('\n');
        for (EvaluationRow row : rows) {
            out.write(row.step() + "," + row.epoch() + "," + csvMetric(row.trainLoss()) + ","
                    + csvMetric(row.rawTestLoss()) + "," + csvMetric(row.rawTestAccuracy()) + ","
                    + csvMetric(row.emaTestLoss()) + "," + csvMetric(row.emaTestAccuracy()) + ","
                    + csvMetric(row.decay()) + "," + csvMetric(row.elapsedSeconds()));
            out.write('\n');
        }
        out.flush();   // not close: closing the stream would close the channel AtomicFiles still has to force
    }

    private static String csvMetric(double value) {
        return Double.isNaN(value) ? "" : Double.toString(value);
    }

    private static void writeJson(Map<String, ?> config, List<EvaluationRow> rows, List<TrainLossPoint> trainLoss,
            Map<String, ?> summary, FileChannel channel) throws IOException {
        OutputStream out = Channels.newOutputStream(channel);
        try (JsonGenerator json = JSON.createGenerator(out)) {
            json.useDefaultPrettyPrinter();
            json.writeStartObject();
            json.writeFieldName("config");
            json.writeObject(config);
            json.writeArrayFieldStart("evaluations");
            for (EvaluationRow row : rows) {
                json.writeStartObject();
                json.writeNumberField(CSV_COLUMNS.get(0), row.step());
                json.writeNumberField(CSV_COLUMNS.get(1), row.epoch());
                jsonMetric(json, CSV_COLUMNS.get(2), row.trainLoss());
                jsonMetric(json, CSV_COLUMNS.get(3), row.rawTestLoss());
                jsonMetric(json, CSV_COLUMNS.get(4), row.rawTestAccuracy());
                jsonMetric(json, CSV_COLUMNS.get(5), row.emaTestLoss());
                jsonMetric(json, CSV_COLUMNS.get(6), row.emaTestAccuracy());
                jsonMetric(json, CSV_COLUMNS.get(7), row.decay());
                jsonMetric(json, CSV_COLUMNS.get(8), row.elapsedSeconds());
                json.writeEndObject();
            }
            json.writeEndArray();
            json.writeArrayFieldStart("train_loss");
            for (TrainLossPoint point : trainLoss) {
                json.writeStartObject();
                json.writeNumberField("step", point.step());
                jsonMetric(json, "loss", point.loss());
                json.writeEndObject();
            }
            json.writeEndArray();
            json.writeFieldName("summary");
            json.writeObject(summary);
            json.writeEndObject();
            json.writeRaw('\n');
        }
    }

    // JSON has no NaN or infinity; null says "no value" to every JSON reader.
    private static void jsonMetric(JsonGenerator json, String name, double value) throws IOException {
        if (Double.isFinite(value)) {
            json.writeNumberField(name, value);
        } else {
            json.writeNullField(name);
        }
    }
}
