package ema4j.core;

/**
 * What one call to {@link EmaState#update} did.
 *
 * @param applied true when the EMA moved; false when the update was skipped for a non-finite weight
 * @param decay the decay used (compounded over {@code steps}); for a skipped update, the decay it would have used
 * @param steps how many optimizer steps the update stood for
 * @param nonFiniteParameter the parameter with a non-finite weight when skipped, else null
 * @param nonFiniteElement the flat index of that weight when skipped, else -1
 */
public record UpdateResult(boolean applied, double decay, int steps, String nonFiniteParameter, long nonFiniteElement) {}
