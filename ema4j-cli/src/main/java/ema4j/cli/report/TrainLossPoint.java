package ema4j.cli.report;

import static ema4j.core.internal.Preconditions.requireArgument;

/**
 * The training loss of one batch, as the raw weights saw it at one optimizer step.
 *
 * @param step the optimizer step the batch was used for, {@code >= 0}
 * @param loss the mean loss over the batch; NaN or infinite when training diverged, kept so the record is honest
 */
public record TrainLossPoint(long step, double loss) {

    /** Checks the step. */
    public TrainLossPoint {
        requireArgument(step >= 0, "step", ">= 0", step);
    }
}
