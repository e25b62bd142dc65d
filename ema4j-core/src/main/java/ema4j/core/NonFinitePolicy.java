package ema4j.core;

/**
 * What an update does when a weight it would average is NaN or infinite. Under both policies the update is refused
 * and the EMA is left as it was, in the sense below: the same for shadows in host memory and on a device, and for any
 * number of threads.
 *
 * <p>Updates with a decay below 1/2 (a copy, and the first updates of a warmup or power-function schedule) and every
 * update of shadows on a device check all weights before writing: a refusal leaves the EMA bit-identical. Other
 * updates check each weight as they average it, so that the check costs no second pass over the model, and when
 * they meet a non-finite weight they set back the elements they had averaged by inverting the update. Such an element
 * comes back within the rounding of one update: at most {@code ulp(t) + ulp(w - e) + ulp(e)} from its earlier value
 * {@code e}, where {@code t} is the averaged value and {@code w} the weight, and exactly for about a share
 * {@code decay} of them. Elements the update had not reached are bit-identical.
 */
public enum NonFinitePolicy {
    /** Throw {@link NonFiniteWeightsException} naming the parameter, the element and the update. */
    FAIL,
    /** Skip the update, count it in the skipped updates (EmaModel.status(), EmaState.skippedUpdates()) and report it in the {@link UpdateResult}. */
    SKIP
}
