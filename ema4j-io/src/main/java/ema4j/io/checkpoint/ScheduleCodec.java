package ema4j.io.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import ema4j.core.schedule.Constant;
import ema4j.core.schedule.DecaySchedule;
import ema4j.core.schedule.DiffusersDecay;
import ema4j.core.schedule.PowerFunction;
import ema4j.core.schedule.Ramp;
import ema4j.core.schedule.TimmDecay;
import ema4j.core.schedule.Warmup;
import java.util.LinkedHashMap;
import java.util.Map;

/** Decay schedules to and from JSON, every hyper-parameter by name, so a checkpoint resumes the same schedule. */
public final class ScheduleCodec {
    private ScheduleCodec() {}

    /** The schedule as a JSON-ready map with a {@code kind} and its hyper-parameters. */
    public static Map<String, Object> toMap(DecaySchedule schedule) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (schedule instanceof Warmup w) {
            m.put("kind", "warmup");
            m.put("updateAfterStep", w.updateAfterStep());
            m.put("invGamma", w.invGamma());
            m.put("power", w.power());
            m.put("minDecay", w.minDecay());
            m.put("maxDecay", w.maxDecay());
        } else if (schedule instanceof Constant c) {
            m.put("kind", "constant");
            m.put("decay", c.decay());
        } else if (schedule instanceof Ramp r) {
            m.put("kind", "ramp");
            m.put("maxDecay", r.maxDecay());
        } else if (schedule instanceof PowerFunction p) {
            m.put("kind", "powerFunction");
            m.put("gamma", p.gamma());
        } else if (schedule instanceof DiffusersDecay d) {
            m.put("kind", "diffusers");
            m.put("decay", d.decay());
            m.put("minDecay", d.minDecay());
            m.put("updateAfterStep", d.updateAfterStep());
            m.put("useEmaWarmup", d.useEmaWarmup());
            m.put("invGamma", d.invGamma());
            m.put("power", d.power());
        } else if (schedule instanceof TimmDecay t) {
            m.put("kind", "timm");
            m.put("decay", t.decay());
            m.put("minDecay", t.minDecay());
            m.put("updateAfterStep", t.updateAfterStep());
            m.put("useWarmup", t.useWarmup());
            m.put("warmupGamma", t.warmupGamma());
            m.put("warmupPower", t.warmupPower());
        }
        return m;
    }

    /**
     * The schedule a {@link #toMap} map describes.
     *
     * @throws IllegalArgumentException naming the kind or field that is missing or invalid
     */
    public static DecaySchedule fromJson(JsonNode node) {
        String kind = node.path("kind").asText("");
        return switch (kind) {
            case "warmup" -> DecaySchedule.warmup().updateAfterStep(number(node, "updateAfterStep").longValue())
                    .invGamma(number(node, "invGamma").doubleValue()).power(number(node, "power").doubleValue())
                    .minDecay(number(node, "minDecay").doubleValue()).maxDecay(number(node, "maxDecay").doubleValue())
                    .build();
            case "constant" -> DecaySchedule.constant(number(node, "decay").doubleValue());
            case "ramp" -> DecaySchedule.ramp(number(node, "maxDecay").doubleValue());
            case "powerFunction" -> DecaySchedule.powerFunction(number(node, "gamma").doubleValue());
            case "diffusers" -> DecaySchedule.diffusers().decay(number(node, "decay").doubleValue())
                    .minDecay(number(node, "minDecay").doubleValue())
                    .updateAfterStep(number(node, "updateAfterStep").longValue())
                    .useEmaWarmup(bool(node, "useEmaWarmup")).invGamma(number(node, "invGamma").doubleValue())
                    .power(number(node, "power").doubleValue()).build();
            case "timm" -> DecaySchedule.timm().decay(number(node, "decay").doubleValue())
                    .minDecay(number(node, "minDecay").doubleValue())
                    .updateAfterStep(number(node, "updateAfterStep").longValue())
                    .useWarmup(bool(node, "useWarmup")).warmupGamma(number(node, "warmupGamma").doubleValue())
                    .warmupPower(number(node, "warmupPower").doubleValue()).build();
            default -> throw new IllegalArgumentException("schedule kind must be warmup, constant, ramp, powerFunction,"
                    + " diffusers or timm, was '" + kind + "'");
        };
    }

    private static boolean bool(JsonNode node, String field) {
        JsonNode value = node.get(field);
        if (value == null || !value.isBoolean()) {
            throw new IllegalArgumentException("schedule field " + field + " must be true or false, was " + value);
        }
        return value.booleanValue();
    }

    private static JsonNode number(JsonNode node, String field) {
        JsonNode value = node.get(field);
        if (value == null || !value.isNumber()) {
            throw new IllegalArgumentException("schedule field " + field + " must be a number, was " + value);
        }
        return value;
    }
}
