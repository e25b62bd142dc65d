package ema4j.core.policy;

import static ema4j.core.internal.Preconditions.requireArgument;

/**
 * What a policy needs to know of one model parameter, independent of any framework.
 *
 * @param name the parameter's stable name in its model (DJL's key, e.g. {@code 02BatchNorm_gamma})
 * @param trainable whether the optimizer updates it ({@code requiresGradient})
 * @param inBatchNorm whether it belongs to a batch-normalization layer
 * @param runningStatistic whether it is a statistic the forward pass maintains (running mean or variance)
 */
public record ParameterInfo(String name, boolean trainable, boolean inBatchNorm, boolean runningStatistic) {
    /** Validates the name. */
    public ParameterInfo {
        requireArgument(name != null && !name.isBlank(), "name", "a non-blank string", name);
    }
}
