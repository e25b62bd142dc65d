package ema4j.core.schedule;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/** Two warmups for long and short trainings (power 2/3, max 0.9999; power 3/4, max 0.999), invGamma 1. */
public enum Preset {
    /** Training beyond about 100K steps: power 2/3, maxDecay 0.9999 (decay 0.999 near update 31.6K). */
    LONG(2.0 / 3.0, 0.9999),
    /** Training below about 50K steps: power 3/4, maxDecay 0.999 (decay 0.999 near update 10K). */
    SHORT(3.0 / 4.0, 0.999);

    private final double power;
    private final double maxDecay;

    Preset(double power, double maxDecay) {
        this.power = power;
        this.maxDecay = maxDecay;
    }

    /** The preset's warmup schedule. */
    public Warmup schedule() {
        return DecaySchedule.warmup().invGamma(1.0).power(power).maxDecay(maxDecay).build();
    }

    /** The preset's name as the CLI spells it. */
    public String label() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * The preset called {@code name}, case-insensitively.
     *
     * @throws IllegalArgumentException naming the known presets when there is none by that name
     */
    public static Preset named(String name) {
        for (Preset preset : values()) {
            if (preset.label().equalsIgnoreCase(String.valueOf(name).trim())) {
                return preset;
            }
        }
        String known = Arrays.stream(values()).map(Preset::label).collect(Collectors.joining(", "));
        throw new IllegalArgumentException("preset must be one of " + known + ", was " + name);
    }
}
