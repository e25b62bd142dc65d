package ema4j.core;

/**
 * A weight being averaged was NaN or infinite; the EMA was left as it was before the update.
 */
public final class NonFiniteWeightsException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final String parameter;
    private final long element;
    private final long update;

    /**
     * @param parameter the parameter holding the value
     * @param element the flat index of the first non-finite element found
     * @param update the 1-based number of the update that was refused
     */
    public NonFiniteWeightsException(String parameter, long element, long update) {
        super("weight " + parameter + "[" + element + "] is not finite at EMA update " + update
                + "; the EMA was left as it was. Fix the training (learning rate, gradient clipping) or build the EMA"
                + " with NonFinitePolicy.SKIP to skip such updates.");
        this.parameter = parameter;
        this.element = element;
        this.update = update;
    }

    /** The name of the parameter that held a NaN or infinite value. */
    public String parameter() {
        return parameter;
    }

    /** The flat index, within the parameter, of the first non-finite element found. */
    public long element() {
        return element;
    }

    /** The 1-based number of the update that was refused. */
    public long update() {
        return update;
    }
}
