/**
 * Optimizers whose state survives a checkpoint: SGD with momentum and Adam that call DJL's own native update kernels,
 * but keep their momentum, moments and update counts keyed by parameter name, where a checkpoint can find them.
 *
 * <p>Why not DJL's {@code Sgd} and {@code Adam}: they key that state by {@code Parameter.getId()}, a random uid that
 * differs between runs, and keep it private, so resuming from a checkpoint restarts momentum, moments and the
 * learning-rate schedule from zero.
 */
package ema4j.training.optim;
