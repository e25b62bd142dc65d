package ema4j.djl;

/**
 * One epoch of {@code EasyTrain.fit} as {@link EmaTrainingListener} validates it: the raw and the EMA weights.
 *
 * @param epoch 1-based epoch number
 * @param raw the evaluation of the live (raw) weights
 * @param ema the evaluation of the EMA weights
 * @param emaUpdates EMA updates applied by the end of the epoch
 * @param decay the decay of the last EMA update
 */
public record EpochResult(int epoch, Evaluation raw, Evaluation ema, long emaUpdates, double decay) {}
