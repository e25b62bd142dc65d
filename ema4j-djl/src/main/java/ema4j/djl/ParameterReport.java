package ema4j.djl;

import ema4j.core.policy.ParameterRule;

/**
 * One parameter of a tracked block and what the EMA does with it.
 *
 * @param name the parameter's key in the block ({@code Block.getParameters()})
 * @param shape its shape as DJL prints it
 * @param dtype its data type
 * @param rule average or copy
 * @param reason why, in words
 */
public record ParameterReport(String name, String shape, String dtype, ParameterRule rule, String reason) {}
