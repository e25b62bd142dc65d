package ema4j.djl;

import ema4j.core.schedule.DecaySchedule;

/**
 * A snapshot of an EMA's counters and telemetry.
 *
 * @param updates optimizer steps averaged in so far
 * @param skippedUpdates optimizer steps whose update was skipped for a non-finite weight
 * @param lastDecay decay of the last update (NaN before the first)
 * @param nextDecay decay the next single-step update will use
 * @param horizon averaging horizon {@code 1 / (1 - lastDecay)} in steps (NaN before the first update)
 * @param schedule the decay schedule
 * @param averagedParameters parameters with a shadow
 * @param copiedParameters parameters read from the live model
 * @param shadowBytes bytes held by the shadows: the EMA's extra memory
 */
public record EmaStatus(long updates, long skippedUpdates, double lastDecay, double nextDecay, double horizon,
        DecaySchedule schedule, int averagedParameters, int copiedParameters, long shadowBytes) {}
