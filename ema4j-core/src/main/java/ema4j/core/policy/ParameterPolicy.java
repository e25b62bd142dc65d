package ema4j.core.policy;

import static ema4j.core.internal.Preconditions.requireArgument;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Decides, once when tracking starts, which parameters are averaged and which are copied, and says why.
 *
 * <p>diffusion_policy's {@code EMAModel} rules: parameters of BatchNorm layers are copied, running statistics follow
 * the live model, frozen parameters are copied, the rest are averaged. Name overrides come first, in the order they
 * were added; a pattern must match the whole name ({@link java.util.regex.Matcher#matches()}).
 *
 * <p>Immutable and thread-safe.
 */
public final class ParameterPolicy {
    private final BatchNormRule batchNorm;
    private final List<Override> overrides;

    private ParameterPolicy(Builder b) {
        this.batchNorm = b.batchNorm;
        this.overrides = List.copyOf(b.overrides);
    }

    /** diffusion_policy's {@code EMAModel} policy with no overrides. */
    public static ParameterPolicy diffusionPolicy() {
        return builder().build();
    }

    /** A builder starting from diffusion_policy's policy. */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * The rule for one parameter and the reason, for a person to read.
     *
     * @param info the parameter
     */
    public Decision decide(ParameterInfo info) {
        for (Override o : overrides) {
            if (o.pattern.matcher(info.name()).matches()) {
                return new Decision(o.rule, "name matches " + o.rule.name().toLowerCase() + " pattern '"
                        + o.pattern.pattern() + "'");
            }
        }
        if (info.runningStatistic()) {
            return new Decision(ParameterRule.COPY, "running statistic: follows the live model");
        }
        if (info.inBatchNorm() && batchNorm == BatchNormRule.COPY_ALL) {
            return new Decision(ParameterRule.COPY, "BatchNorm parameter: copied (diffusion_policy's EMAModel)");
        }
        if (!info.trainable()) {
            return new Decision(ParameterRule.COPY, "frozen: no gradient, nothing to smooth");
        }
        return new Decision(ParameterRule.AVERAGE, info.inBatchNorm()
                ? "BatchNorm affine parameter, averaged by option" : "trainable");
    }

    /** How parameters of BatchNorm layers are treated. */
    public BatchNormRule batchNorm() {
        return batchNorm;
    }

    @java.lang.Override
    public String toString() {
        return "ParameterPolicy{batchNorm=" + batchNorm + ", overrides=" + overrides + "}";
    }

    /** How the parameters of BatchNorm layers are treated. */
    public enum BatchNormRule {
        /** Gamma, beta and the running statistics are all copied: diffusion_policy's rule. */
        COPY_ALL,
        /** Gamma and beta are averaged like other trainable parameters; only the running statistics are copied. */
        AVERAGE_AFFINE
    }

    /**
     * One decision of the policy.
     *
     * @param rule what the EMA does with the parameter
     * @param reason why, in words
     */
    public record Decision(ParameterRule rule, String reason) {}

    private record Override(Pattern pattern, ParameterRule rule) {
        @java.lang.Override
        public String toString() {
            return rule + " '" + pattern.pattern() + "'";
        }
    }

    /** Collects the policy's options. */
    public static final class Builder {
        private BatchNormRule batchNorm = BatchNormRule.COPY_ALL;
        private final List<Override> overrides = new ArrayList<>();

        private Builder() {}

        /** How BatchNorm parameters are treated; diffusion_policy copies them all. */
        public Builder batchNorm(BatchNormRule rule) {
            requireArgument(rule != null, "batchNorm", "non-null", rule);
            this.batchNorm = rule;
            return this;
        }

        /** Averages every parameter whose whole name matches {@code regex}, whatever the other rules say. */
        public Builder average(String regex) {
            return override(regex, ParameterRule.AVERAGE);
        }

        /** Copies every parameter whose whole name matches {@code regex}, whatever the other rules say. */
        public Builder copy(String regex) {
            return override(regex, ParameterRule.COPY);
        }

        private Builder override(String regex, ParameterRule rule) {
            requireArgument(regex != null && !regex.isEmpty(), "pattern", "a non-empty regular expression", regex);
            try {
                overrides.add(new Override(Pattern.compile(regex), rule));
            } catch (PatternSyntaxException e) {
                throw new IllegalArgumentException("pattern must be a valid regular expression, was '" + regex
                        + "': " + e.getDescription(), e);
            }
            return this;
        }

        /** The policy. */
        public ParameterPolicy build() {
            return new ParameterPolicy(this);
        }
    }
}
