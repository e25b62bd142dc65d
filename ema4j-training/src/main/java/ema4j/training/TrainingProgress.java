package ema4j.training;

/**
 * Where a {@link TrainingLoop} stands after one optimizer step, for a progress display or a metrics logger.
 *
 * @param step optimizer steps taken, from 1
 * @param totalSteps the steps of the whole run
 * @param epoch the epoch of this step, from 1
 * @param epochs the epochs of the whole run
 * @param loss this step's training loss
 * @param examples training examples seen so far, over every epoch
 */
public record TrainingProgress(long step, long totalSteps, int epoch, int epochs, double loss, long examples) {}
