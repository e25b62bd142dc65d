package ema4j.djl;

import ema4j.core.NonFinitePolicy;
import ema4j.core.schedule.DecaySchedule;

/**
 * An EMA's counters and telemetry now. Its counts are in optimizer steps when step accounting is configured
 * ({@code EmaModel.Builder.optimizerSteps}), else in calls of {@code EmaModel.step()}.
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
 * @param nonFinite what an update does with a NaN or infinite weight
 */
public record EmaStatus(long updates, long skippedUpdates, double lastDecay, double nextDecay, double horizon,
        DecaySchedule schedule, int averagedParameters, int copiedParameters, long shadowBytes,
        NonFinitePolicy nonFinite) {}
