package ema4j.core;

import static ema4j.core.Preconditions.requireArgument;

import ema4j.core.schedule.DecaySchedule;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The saved form of an EMA, for checkpoints: its schedule, its counters and the shadow of every averaged tensor by
 * name. Shadows are kept at their own precision (float32, or float64 for float64 weights), little-endian, so that
 * restoring a snapshot gives back the same EMA bit for bit, for 16-bit weights too.
 *
 * @param schedule the decay schedule the EMA ran with
 * @param updates optimizer steps averaged in (an update compounded over k steps counts k)
 * @param skippedUpdates optimizer steps whose update was refused for a non-finite weight
 * @param shadows each averaged tensor's shadow by name, read-only, little-endian
 */
public record EmaSnapshot(DecaySchedule schedule, long updates, long skippedUpdates, Map<String, ByteBuffer> shadows) {
    /** Validates the counters and takes read-only little-endian views of the shadows, in the given order. */
    public EmaSnapshot {
        requireArgument(schedule != null, "schedule", "non-null", null);
        requireArgument(updates >= 0, "updates", ">= 0", updates);
        requireArgument(skippedUpdates >= 0, "skippedUpdates", ">= 0", skippedUpdates);
        requireArgument(shadows != null, "shadows", "non-null", null);
        Map<String, ByteBuffer> views = new LinkedHashMap<>();
        for (Map.Entry<String, ByteBuffer> e : shadows.entrySet()) {
            requireArgument(e.getValue() != null, "shadow of " + e.getKey(), "non-null", null);
            views.put(e.getKey(), e.getValue().slice().asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN));
        }
        shadows = Collections.unmodifiableMap(views);
    }

    /**
     * Fails unless this snapshot holds exactly one shadow of the right size for each of {@code tensors}, naming every
     * missing, unexpected or mis-sized shadow.
     */
    public void requireShadowsOf(List<TensorSpec> tensors) {
        List<String> problems = new ArrayList<>();
        Map<String, ByteBuffer> unexpected = new LinkedHashMap<>(shadows);
        for (TensorSpec spec : tensors) {
            ByteBuffer saved = unexpected.remove(spec.name());
            long bytes = (long) spec.elementCount() * spec.format().shadowBytesPerElement();
            if (saved == null) {
                problems.add("missing " + spec.name());
            } else if (saved.remaining() != bytes) {
                problems.add(spec.name() + " has " + saved.remaining() + " bytes, not " + bytes + " ("
                        + spec.elementCount() + " elements at " + (bytes / spec.elementCount()) + " bytes)");
            }
        }
        unexpected.keySet().forEach(name -> problems.add("unexpected " + name));
        requireArgument(problems.isEmpty(), "the snapshot's shadows", "those of the EMA's " + tensors.size()
                + " averaged tensors", problems.size() + " differ: " + String.join("; ",
                problems.subList(0, Math.min(5, problems.size()))) + (problems.size() > 5 ? "; ..." : ""));
    }

    @Override
    public String toString() {
        return "EmaSnapshot{schedule=" + schedule + ", updates=" + updates + ", skippedUpdates=" + skippedUpdates
                + ", shadows=" + shadows.size() + "}";
    }
}
