package ema4j.training;

import ema4j.djl.Evaluation;

/**
 * One evaluation of a {@link TrainingLoop}: the validation loss and metrics of the raw weights and of the EMA's, at
 * one step.
 *
 * @param step optimizer steps taken
 * @param epoch the epoch the step belongs to, from 1
 * @param trainLoss the mean training loss of the steps since the previous evaluation
 * @param raw the raw weights' evaluation
 * @param ema the EMA weights' evaluation, or null when the loop has no EMA
 * @param decay the decay of the EMA's last update, NaN without an EMA or before its first update
 * @param seconds wall-clock seconds of training since the loop started or resumed, evaluations included
 */
public record EvaluationRecord(long step, int epoch, double trainLoss, Evaluation raw, Evaluation ema, double decay,
        double seconds) {}
