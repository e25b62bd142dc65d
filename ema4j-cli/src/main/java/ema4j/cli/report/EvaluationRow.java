package ema4j.cli.report;

import static ema4j.core.internal.Preconditions.requireArgument;

/**
 * One evaluation during training: where training stood and how the raw and the EMA weights did on the test set.
 *
 * <p>Losses are mean cross-entropy per example; accuracies are fractions in [0, 1], not percent. Any metric may be
 * NaN: the EMA columns when training runs without EMA, {@code trainLoss} for an evaluation before the first batch.
 *
 * @param step optimizer steps taken so far, {@code >= 0}
 * @param epoch the epoch the step belongs to, {@code >= 0}
 * @param trainLoss mean training loss over the batches since the previous row
 * @param rawTestLoss test loss of the raw (live) weights
 * @param rawTestAccuracy test accuracy of the raw weights, a fraction
 * @param emaTestLoss test loss of the EMA weights, NaN without EMA
 * @param emaTestAccuracy test accuracy of the EMA weights, a fraction, NaN without EMA
 * @param decay the EMA decay used at this step, NaN without EMA
 * @param elapsedSeconds wall-clock seconds since training started
 */
public record EvaluationRow(long step, int epoch, double trainLoss, double rawTestLoss, double rawTestAccuracy,
        double emaTestLoss, double emaTestAccuracy, double decay, double elapsedSeconds) {

    /** Checks the counters; metrics are not checked, because NaN is how a missing metric is written. */
    public EvaluationRow {
        requireArgument(step >= 0, "step", ">= 0", step);
        requireArgument(epoch >= 0, "epoch", ">= 0", epoch);
    }

    /**
     * Tells whether this row has EMA metrics.
     *
     * @return true when the EMA test loss or accuracy is a number
     */
    public boolean hasEma() {
        return !Double.isNaN(emaTestLoss) || !Double.isNaN(emaTestAccuracy);
    }
}
