package ema4j.demo.data;

import static ema4j.core.internal.Preconditions.requireArgument;

/**
 * Class labels read from an IDX file: one byte per item, each a class index in {@code 0..9}.
 *
 * <p>The label array is shared, not copied; treat it as read-only.
 *
 * @param count the number of labels, {@code >= 0}
 * @param labels {@code count} class indices
 */
public record IdxLabels(int count, byte[] labels) {

    /** Checks that the label array holds exactly {@code count} labels. */
    public IdxLabels {
        requireArgument(count >= 0, "count", ">= 0", count);
        requireArgument(labels != null, "labels", "non-null", null);
        requireArgument(labels.length == count, "labels.length", "count = " + count, labels.length);
    }
}
