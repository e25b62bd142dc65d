package ema4j.core;

import static ema4j.core.internal.Preconditions.requireArgument;

import ema4j.core.policy.ParameterRule;
import ema4j.core.schedule.DecaySchedule;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The saved form of an EMA, for checkpoints and files: its schedule, its counters, the shadow of every averaged tensor
 * by name and the rule of every parameter. Shadows are kept at their own precision (float32, or float64 for float64
 * weights), little-endian, so that restoring a snapshot gives back the same EMA bit for bit, 16-bit weights included.
 *
 * @param schedule the decay schedule the EMA ran with
 * @param updates optimizer steps averaged in (an update compounded over k steps counts k)
 * @param skippedUpdates optimizer steps whose update was refused for a non-finite weight
 * @param shadows the averaged tensors' shadows, in order, with unique names
 * @param rules every parameter's rule by name: those with a shadow average, the others are copied from the live
 *     model
 */
public record EmaSnapshot(DecaySchedule schedule, long updates, long skippedUpdates, List<SavedShadow> shadows,
        Map<String, ParameterRule> rules) {

    /**
     * One averaged tensor's shadow.
     *
     * @param tensor the shadow's name, shape and precision ({@link WeightFormat#FLOAT32} or {@link WeightFormat#FLOAT64})
     * @param values its elements at that precision, read-only, little-endian
     */
    public record SavedShadow(TensorSpec tensor, ByteBuffer values) {
        /** Validates the precision and the size, and takes a read-only little-endian view of the values. */
        public SavedShadow {
            requireArgument(tensor != null, "tensor", "non-null", null);
            requireArgument(tensor.format() == WeightFormat.FLOAT32 || tensor.format() == WeightFormat.FLOAT64,
                    "precision of the shadow of " + tensor.name(), "float32 or float64", tensor.format());
            long bytes = (long) tensor.elementCount() * tensor.format().bytesPerElement();
            requireArgument(values != null && values.remaining() == bytes, "values of the shadow of " + tensor.name(),
                    bytes + " bytes (" + tensor + ")", values == null ? null : values.remaining() + " bytes");
            values = values.slice().asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN);
        }

        /** The tensor's name. */
        public String name() {
            return tensor.name();
        }
    }

    /** Validates the counters, the names and the rules, and keeps unmodifiable copies. */
    public EmaSnapshot {
        requireArgument(schedule != null, "schedule", "non-null", null);
        requireArgument(updates >= 0, "updates", ">= 0", updates);
        requireArgument(skippedUpdates >= 0, "skippedUpdates", ">= 0", skippedUpdates);
        requireArgument(shadows != null && rules != null, "shadows and rules", "non-null", null);
        shadows = List.copyOf(shadows);
        rules = Collections.unmodifiableMap(new LinkedHashMap<>(rules));
        Map<String, Boolean> seen = new HashMap<>();
        for (SavedShadow shadow : shadows) {
            requireArgument(seen.put(shadow.name(), true) == null, "shadow names", "unique", shadow.name() + " twice");
            requireArgument(rules.get(shadow.name()) == ParameterRule.AVERAGE, "the rule of " + shadow.name(),
                    "average, as it has a shadow", rules.get(shadow.name()));
        }
        for (Map.Entry<String, ParameterRule> rule : rules.entrySet()) {
            requireArgument(rule.getValue() != ParameterRule.AVERAGE || seen.containsKey(rule.getKey()),
                    "an averaged parameter", "saved with its shadow", rule.getKey() + " without one");
        }
    }

    /** A snapshot of shadows alone, every one of them averaged: what an EMA of bare tensors saves. */
    public static EmaSnapshot of(DecaySchedule schedule, long updates, long skippedUpdates, List<SavedShadow> shadows) {
        Map<String, ParameterRule> rules = new LinkedHashMap<>();
        for (SavedShadow shadow : shadows) {
            rules.put(shadow.name(), ParameterRule.AVERAGE);
        }
        return new EmaSnapshot(schedule, updates, skippedUpdates, shadows, rules);
    }

    /**
     * The values of the shadow named {@code name}.
     *
     * @throws IllegalArgumentException when there is none
     */
    public ByteBuffer shadow(String name) {
        for (SavedShadow shadow : shadows) {
            if (shadow.name().equals(name)) {
                return shadow.values().duplicate().order(ByteOrder.LITTLE_ENDIAN);
            }
        }
        throw new IllegalArgumentException("name must be one of the snapshot's shadows, was " + name);
    }

    /**
     * This snapshot with another schedule, keeping the counters and shadows: resuming an EMA with a new schedule on
     * purpose, which resuming refuses otherwise.
     */
    public EmaSnapshot withSchedule(DecaySchedule other) {
        return new EmaSnapshot(other, updates, skippedUpdates, shadows, rules);
    }

    /**
     * Fails unless this snapshot was saved with {@code current}: resuming an EMA with another schedule would change
     * its averaging without a word. {@link #withSchedule} changes it on purpose.
     */
    public void requireSchedule(DecaySchedule current) {
        requireArgument(schedule.equals(current), "schedule", "the snapshot's " + schedule + " (resume from"
                + " snapshot.withSchedule(schedule) to change it on purpose)", current);
    }

    /**
     * Fails unless the parameters' rules now agree with the saved ones, naming every parameter that differs: one
     * saved with another rule, one the snapshot knows of that is gone, one averaged now without a saved shadow.
     * Parameters the snapshot has no rule for (it was saved from bare tensors) may be copied.
     */
    public void requireRules(Map<String, ParameterRule> current) {
        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, ParameterRule> now : current.entrySet()) {
            ParameterRule saved = rules.get(now.getKey());
            if (saved == null && now.getValue() == ParameterRule.AVERAGE) {
                problems.add(now.getKey() + " is averaged now but has no saved shadow");
            } else if (saved != null && saved != now.getValue()) {
                problems.add(now.getKey() + " saved " + lower(saved) + ", now " + lower(now.getValue()));
            }
        }
        for (Map.Entry<String, ParameterRule> saved : rules.entrySet()) {
            if (!current.containsKey(saved.getKey())) {
                problems.add("missing " + saved.getKey() + " (saved " + lower(saved.getValue()) + ")");
            }
        }
        requireArgument(problems.isEmpty(), "the parameters' rules", "those saved in the snapshot",
                problems.size() + " differ: " + String.join("; ", problems.subList(0, Math.min(5, problems.size())))
                        + (problems.size() > 5 ? "; ..." : ""));
    }

    private static String lower(ParameterRule rule) {
        return rule.name().toLowerCase(java.util.Locale.ROOT);
    }

    /**
     * Fails unless this snapshot holds exactly one shadow for each of {@code tensors}, with their shapes and shadow
     * precisions, naming every missing, unexpected or different shadow.
     */
    public void requireShadowsOf(List<TensorSpec> tensors) {
        List<String> problems = new ArrayList<>();
        Map<String, TensorSpec> unexpected = new LinkedHashMap<>();
        for (SavedShadow shadow : shadows) {
            unexpected.put(shadow.name(), shadow.tensor());
        }
        for (TensorSpec spec : tensors) {
            TensorSpec saved = unexpected.remove(spec.name());
            WeightFormat precision = spec.format() == WeightFormat.FLOAT64 ? WeightFormat.FLOAT64 : WeightFormat.FLOAT32;
            TensorSpec wanted = new TensorSpec(spec.name(), spec.shape(), precision);
            if (saved == null) {
                problems.add("missing " + wanted);
            } else if (!saved.equals(wanted)) {
                problems.add("saved " + saved + ", now " + wanted);
            }
        }
        unexpected.values().forEach(spec -> problems.add("unexpected " + spec));
        requireArgument(problems.isEmpty(), "the snapshot's shadows", "those of the EMA's " + tensors.size()
                + " averaged tensors", problems.size() + " differ: " + String.join("; ",
                problems.subList(0, Math.min(5, problems.size()))) + (problems.size() > 5 ? "; ..." : ""));
    }

    @Override
    public String toString() {
        return "EmaSnapshot{schedule=" + schedule + ", updates=" + updates + ", skippedUpdates=" + skippedUpdates
                + ", shadows=" + shadows.size() + ", rules=" + rules.size() + "}";
    }
}
