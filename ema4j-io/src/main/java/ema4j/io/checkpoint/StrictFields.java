package ema4j.io.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;

/**
 * Reads the fields of one of a checkpoint's JSON files strictly: a field must be there, of its type and in its range,
 * or the checkpoint is refused with the file and the field's path, e.g. {@code state.json: training.step must be a
 * whole number >= 0, was "abc"}. Reading a counter loosely would turn a damaged value into 0 and restart a schedule
 * without a word.
 */
public final class StrictFields {
    private final Path directory;
    private final String file;

    /**
     * @param directory the checkpoint's directory, for the message
     * @param file the JSON file's name in it
     */
    public StrictFields(Path directory, String file) {
        this.directory = directory;
        this.file = file;
    }

    /** The whole number at {@code value}, at least {@code min} and below 2^53 (exact in JSON's doubles too). */
    public long whole(JsonNode value, String path, long min) {
        if (value == null || !value.isIntegralNumber() || !value.canConvertToLong() || value.asLong() < min
                || value.asLong() >= 1L << 53) {
            throw refused(path, "a whole number >= " + min, value);
        }
        return value.asLong();
    }

    /**
     * The number at {@code value}: a JSON number, JSON's null or Jackson's strings for the non-finite values
     * ({@code "NaN"}, {@code "Infinity"}, {@code "-Infinity"}), which a run that diverged writes; both read as NaN or
     * the infinity.
     */
    public double number(JsonNode value, String path) {
        if (value != null && value.isNumber()) {
            return value.asDouble();
        }
        if (value != null && value.isNull()) {
            return Double.NaN;
        }
        if (value != null && value.isTextual() && java.util.List.of("NaN", "Infinity", "-Infinity")
                .contains(value.asText())) {
            return Double.parseDouble(value.asText());
        }
        throw refused(path, "a number (or null, NaN, Infinity)", value);
    }

    /** The array at {@code value}, of exactly {@code size} elements, or of any size when {@code size} is -1. */
    public JsonNode array(JsonNode value, String path, int size) {
        if (value == null || !value.isArray() || (size >= 0 && value.size() != size)) {
            throw refused(path, size >= 0 ? "an array of " + size + " values" : "an array", value);
        }
        return value;
    }

    /** The JSON object at {@code value}. */
    public JsonNode object(JsonNode value, String path) {
        if (value == null || !value.isObject()) {
            throw refused(path, "an object", value);
        }
        return value;
    }

    /**
     * The JSON object at {@code value}, which has no fields but {@code known}: a field this library never writes is
     * a sign of another format or an edit, and is refused rather than ignored.
     */
    public JsonNode object(JsonNode value, String path, java.util.Set<String> known) {
        object(value, path);
        for (java.util.Iterator<String> names = value.fieldNames(); names.hasNext();) {
            String name = names.next();
            if (!known.contains(name)) {
                throw new CheckpointFormatException(directory, file + ": " + path + " must have only the fields "
                        + new java.util.TreeSet<>(known) + ", was one more: " + name);
            }
        }
        return value;
    }

    /** The text at {@code value}, one of {@code allowed}. */
    public String oneOf(JsonNode value, String path, java.util.List<String> allowed) {
        if (value == null || !value.isTextual() || !allowed.contains(value.asText())) {
            throw refused(path, "one of " + String.join(", ", allowed), value);
        }
        return value.asText();
    }

    private CheckpointFormatException refused(String path, String rule, JsonNode value) {
        return new CheckpointFormatException(directory, file + ": " + path + " must be " + rule + ", was "
                + (value == null || value.isMissingNode() ? "missing" : value.toString()));
    }
}
