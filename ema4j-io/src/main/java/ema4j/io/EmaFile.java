package ema4j.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import ema4j.core.EmaSnapshot;
import ema4j.core.TensorSpec;
import ema4j.core.WeightFormat;
import ema4j.core.policy.ParameterRule;
import ema4j.io.checkpoint.ScheduleCodec;
import ema4j.io.safetensors.SafetensorsFile;
import ema4j.io.safetensors.SafetensorsFormatException;
import ema4j.io.safetensors.SafetensorsWriter;
import ema4j.io.safetensors.TensorEntry;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * An EMA's complete state in one safetensors file: every shadow by name at its own precision (F32, or F64 for float64
 * weights) with its shape, and in the metadata the schedule, the counters, every parameter's rule and the format
 * version. PyTorch reads it as a state dict ({@code safetensors.torch.load_file}); {@link #load} reads it back into an
 * {@link EmaSnapshot} that resumes the EMA bit for bit, whatever optimizer the training uses:
 * <pre>{@code
 * EmaFile.save(ema.snapshot(), Path.of("ema.safetensors"));
 * EmaModel resumed = EmaModel.builder(schedule).resume(block, EmaFile.load(Path.of("ema.safetensors")));
 * }</pre>
 */
public final class EmaFile {
    /** The version of the metadata this class writes and reads. */
    public static final int FORMAT = 1;

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PREFIX = "ema4j.";

    private EmaFile() {}

    /**
     * Writes {@code snapshot} to {@code file} atomically: readers see the old file or the whole new one.
     *
     * @throws IOException when the file system fails
     */
    public static void save(EmaSnapshot snapshot, Path file) throws IOException {
        Map<String, String> rules = new LinkedHashMap<>();
        snapshot.rules().forEach((name, rule) -> rules.put(name, rule.name().toLowerCase(Locale.ROOT)));
        SafetensorsWriter writer = SafetensorsWriter.create().metadata("format", "pt")
                .metadata(PREFIX + "format", Integer.toString(FORMAT))
                .metadata(PREFIX + "schedule", json(ScheduleCodec.toMap(snapshot.schedule())))
                .metadata(PREFIX + "updates", Long.toString(snapshot.updates()))
                .metadata(PREFIX + "skippedUpdates", Long.toString(snapshot.skippedUpdates()))
                .metadata(PREFIX + "rules", json(rules));
        for (EmaSnapshot.SavedShadow shadow : snapshot.shadows()) {
            TensorSpec tensor = shadow.tensor();
            writer.tensor(tensor.name(), tensor.format().safetensorsName(), tensor.shape(), shadow.values());
        }
        writer.write(file);
    }

    /**
     * Reads the EMA that {@link #save} wrote to {@code file}.
     *
     * @throws IOException when the file system fails
     * @throws SafetensorsFormatException naming the file and what is wrong: not an EMA file, a newer format, a
     *     missing or invalid field, a shadow that is not F32 or F64, a shadow without an averaged rule or the reverse
     */
    public static EmaSnapshot load(Path file) throws IOException {
        try (SafetensorsFile tensors = SafetensorsFile.open(file)) {
            Map<String, String> metadata = tensors.metadata();
            String format = metadata.get(PREFIX + "format");
            if (format == null) {
                throw new SafetensorsFormatException(file, "holds no EMA (no " + PREFIX + "format in its metadata);"
                        + " EmaFile.save writes one");
            }
            if (!format.equals(Integer.toString(FORMAT))) {
                throw new SafetensorsFormatException(file, "is an EMA file of format " + format + "; this ema4j reads"
                        + " format " + FORMAT);
            }
            List<EmaSnapshot.SavedShadow> shadows = new ArrayList<>();
            for (TensorEntry entry : tensors.tensors()) {
                WeightFormat precision = switch (entry.dtype()) {
                    case "F32" -> WeightFormat.FLOAT32;
                    case "F64" -> WeightFormat.FLOAT64;
                    default -> throw new SafetensorsFormatException(file, "shadow '" + entry.name() + "' is "
                            + entry.dtype() + "; shadows are F32 or F64");
                };
                shadows.add(new EmaSnapshot.SavedShadow(new TensorSpec(entry.name(), entry.shape(), precision),
                        tensors.read(entry.name())));
            }
            Map<String, ParameterRule> rules = new LinkedHashMap<>();
            field(file, metadata, "rules").fields().forEachRemaining(rule -> rules.put(rule.getKey(),
                    rule(file, rule.getKey(), rule.getValue().asText())));
            try {
                return new EmaSnapshot(ScheduleCodec.fromJson(field(file, metadata, "schedule")),
                        count(file, metadata, "updates"), count(file, metadata, "skippedUpdates"), shadows, rules);
            } catch (IllegalArgumentException e) {
                throw new SafetensorsFormatException(file, e.getMessage());
            }
        }
    }

    private static ParameterRule rule(Path file, String name, String rule) {
        for (ParameterRule r : ParameterRule.values()) {
            if (r.name().toLowerCase(Locale.ROOT).equals(rule)) {
                return r;
            }
        }
        throw new SafetensorsFormatException(file, "the rule of " + name + " must be average or copy, was '" + rule
                + "'");
    }

    private static JsonNode field(Path file, Map<String, String> metadata, String name) {
        String text = metadata.get(PREFIX + name);
        if (text == null) {
            throw new SafetensorsFormatException(file, "lacks " + PREFIX + name + " in its metadata");
        }
        try {
            return JSON.readTree(text);
        } catch (JsonProcessingException e) {
            throw new SafetensorsFormatException(file, PREFIX + name + " is not JSON: " + e.getOriginalMessage());
        }
    }

    private static long count(Path file, Map<String, String> metadata, String name) {
        JsonNode value = field(file, metadata, name);
        if (!value.canConvertToLong() || !value.isIntegralNumber() || value.asLong() < 0) {
            throw new SafetensorsFormatException(file, PREFIX + name + " must be a whole number >= 0, was " + value);
        }
        return value.asLong();
    }

    private static String json(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("could not write " + value + " as JSON", e);
        }
    }
}
