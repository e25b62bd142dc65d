package ema4j.core;

/** What an update does when a weight it would average is NaN or infinite; in both cases the EMA is left as it was. */
public enum NonFinitePolicy {
    /** Throw {@link NonFiniteWeightsException} naming the parameter and the update. */
    FAIL,
    /** Skip the update, count it in {@link EmaState#skippedUpdates()} and report it in the {@link UpdateResult}. */
    SKIP
}
