package ema4j.djl;

/**
 * One epoch of {@link EmaTraining#fit}: validation with the raw and with the EMA weights.
 *
 * @param epoch 1-based epoch number
 * @param raw the evaluation of the live (raw) weights
 * @param ema the evaluation of the EMA weights
 * @param emaUpdates EMA updates applied by the end of the epoch
 * @param decay the decay of the last EMA update
 */
public record EpochResult(int epoch, Evaluation raw, Evaluation ema, long emaUpdates, double decay) {}
