package ema4j.cli;

import ema4j.core.schedule.DecaySchedule;
import ema4j.core.schedule.Preset;
import ema4j.core.schedule.Warmup;
import picocli.CommandLine.Option;

/** The options that choose a decay schedule, shared by {@code train} and {@code schedule}. */
final class ScheduleOptions {
    @Option(names = "--preset", paramLabel = "NAME",
            description = "A preset: long (power 2/3, max 0.9999) or short (power 3/4, max 0.999)."
                    + " Default: short, unless --schedule says otherwise.")
    Preset preset;

    @Option(names = "--schedule", paramLabel = "KIND", defaultValue = "warmup",
            description = "warmup (diffusion_policy's), constant, or ramp (min(max, (1+n)/(10+n))). Default: ${DEFAULT-VALUE}.")
    Kind kind;

    /** The kinds of schedule the options describe; written in lower case, as on the command line. */
    enum Kind {
        /** diffusion_policy's warmup. */
        WARMUP,
        /** One decay throughout. */
        CONSTANT,
        /** torch-ema's ramp, min(max, (1 + n) / (10 + n)). */
        RAMP;

        @Override
        public String toString() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    @Option(names = "--power", paramLabel = "P", description = "Warmup exponent (> 0).")
    Double power;

    @Option(names = "--inv-gamma", paramLabel = "G", description = "Warmup step scale (> 0). Default 1.")
    Double invGamma;

    @Option(names = "--min-decay", paramLabel = "D", description = "Lower clamp in [0, 1]. Default 0.")
    Double minDecay;

    @Option(names = "--max-decay", paramLabel = "D", description = "Upper clamp in [0, 1]; the ramp's ceiling.")
    Double maxDecay;

    @Option(names = "--update-after-step", paramLabel = "N", description = "Extra copying updates before averaging.")
    Long updateAfterStep;

    @Option(names = "--decay", paramLabel = "D", description = "The decay of the constant schedule, in [0, 1].")
    Double decay;

    /**
     * The schedule these options describe; invalid values fail with the core's message, and an option the kind does
     * not use is refused instead of ignored.
     */
    DecaySchedule schedule() {
        java.util.Map<String, Object> given = new java.util.LinkedHashMap<>();
        given.put("--preset", preset);
        given.put("--power", power);
        given.put("--inv-gamma", invGamma);
        given.put("--min-decay", minDecay);
        given.put("--max-decay", maxDecay);
        given.put("--update-after-step", updateAfterStep);
        given.put("--decay", decay);
        java.util.Set<String> uses = switch (kind) {
            case WARMUP -> java.util.Set.of("--preset", "--power", "--inv-gamma", "--min-decay", "--max-decay",
                    "--update-after-step");
            case CONSTANT -> java.util.Set.of("--decay");
            case RAMP -> java.util.Set.of("--max-decay");
        };
        for (java.util.Map.Entry<String, Object> option : given.entrySet()) {
            if (option.getValue() != null && !uses.contains(option.getKey())) {
                throw new IllegalArgumentException(option.getKey() + " must not be given with --schedule " + kind
                        + ", which does not use it (it takes " + String.join(", ", new java.util.TreeSet<>(uses))
                        + "), was " + option.getValue());
            }
        }
        switch (kind) {
            case WARMUP -> {
                Warmup.Builder b = (preset == null ? Preset.SHORT : preset).schedule().toBuilder();
                if (power != null) {
                    b.power(power);
                }
                if (invGamma != null) {
                    b.invGamma(invGamma);
                }
                if (minDecay != null) {
                    b.minDecay(minDecay);
                }
                if (maxDecay != null) {
                    b.maxDecay(maxDecay);
                }
                if (updateAfterStep != null) {
                    b.updateAfterStep(updateAfterStep);
                }
                return b.build();
            }
            case CONSTANT -> {
                if (decay == null) {
                    throw new IllegalArgumentException("--decay must be given for --schedule constant, was missing");
                }
                return DecaySchedule.constant(decay);
            }
            case RAMP -> {
                return DecaySchedule.ramp(maxDecay == null ? 0.9999 : maxDecay);
            }
            default -> throw new IllegalStateException("unhandled --schedule " + kind);
        }
    }

    /** A short label for tables and plot titles. */
    String label() {
        return preset != null && kind == Kind.WARMUP ? "preset " + preset.name().toLowerCase(java.util.Locale.ROOT)
                : kind.toString();
    }
}
