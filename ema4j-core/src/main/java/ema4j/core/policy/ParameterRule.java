package ema4j.core.policy;

/** What the EMA does with one parameter at every update. */
public enum ParameterRule {
    /** {@code ema = d * ema + (1 - d) * weights}: the parameter gets a shadow of its own. */
    AVERAGE,
    /**
     * The EMA model holds the live value. No shadow is kept: the value is read from the live model when the EMA
     * weights are needed (swap, averaged model, export), so copied parameters cost no second copy of memory.
     */
    COPY
}
