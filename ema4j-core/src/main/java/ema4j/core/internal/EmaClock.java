package ema4j.core.internal;

import static ema4j.core.internal.Preconditions.requireArgument;

import ema4j.core.NonFinitePolicy;
import ema4j.core.NonFiniteWeightsException;
import ema4j.core.UpdateResult;
import ema4j.core.schedule.DecaySchedule;

/**
 * The counting half of an EMA, without its values: the schedule, the updates applied and skipped, the last decay and
 * the non-finite policy. It says which decay the next update uses and records what the update did.
 *
 * <p>{@link ema4j.core.EmaState} keeps one beside its host shadows. An adapter that keeps the shadows itself, next to
 * the live weights on an accelerator, averages them with the framework's arithmetic and keeps its counts here, so that both
 * kinds of EMA count, compound and refuse updates the same way. Not thread-safe.
 */
public final class EmaClock {
    private final DecaySchedule schedule;
    private final NonFinitePolicy nonFinitePolicy;
    private long updates;
    private long skippedUpdates;
    private double lastDecay;

    private EmaClock(DecaySchedule schedule, NonFinitePolicy nonFinitePolicy, long updates, long skippedUpdates) {
        requireArgument(schedule != null, "schedule", "non-null", null);
        requireArgument(nonFinitePolicy != null, "nonFinitePolicy", "non-null", null);
        requireArgument(updates >= 0, "updates", ">= 0", updates);
        requireArgument(skippedUpdates >= 0, "skippedUpdates", ">= 0", skippedUpdates);
        this.schedule = schedule;
        this.nonFinitePolicy = nonFinitePolicy;
        this.updates = updates;
        this.skippedUpdates = skippedUpdates;
        this.lastDecay = updates == 0 ? Double.NaN : schedule.decayAt(updates - 1);
    }

    /** A clock before the first update. */
    public static EmaClock start(DecaySchedule schedule, NonFinitePolicy nonFinitePolicy) {
        return new EmaClock(schedule, nonFinitePolicy, 0, 0);
    }

    /**
     * A clock resumed from saved counts, e.g. a checkpoint's.
     *
     * @param updates optimizer steps averaged in before the save
     * @param skippedUpdates optimizer steps whose update was skipped for a non-finite weight before the save
     */
    public static EmaClock restore(DecaySchedule schedule, NonFinitePolicy nonFinitePolicy, long updates,
            long skippedUpdates) {
        return new EmaClock(schedule, nonFinitePolicy, updates, skippedUpdates);
    }

    /** A detached copy: the same counts now, unaffected by what either records later. */
    public EmaClock copy() {
        EmaClock copy = new EmaClock(schedule, nonFinitePolicy, updates, skippedUpdates);
        copy.lastDecay = lastDecay;
        return copy;
    }

    /**
     * The decay of the next {@code steps} updates compounded into one, so that averaging every k-th step keeps the
     * time constant of averaging every step.
     */
    public double decayFor(int steps) {
        requireArgument(steps >= 1, "steps", ">= 1", steps);
        return schedule.compoundedDecay(updates, steps);
    }

    /** Records an update that averaged {@code steps} optimizer steps in with {@code decay}. */
    public UpdateResult applied(double decay, int steps) {
        updates += steps;
        lastDecay = decay;
        return new UpdateResult(true, decay, steps, null, -1);
    }

    /**
     * Records an update refused for a non-finite weight, the EMA having been left as it was: under
     * {@link NonFinitePolicy#FAIL} throws, under {@link NonFinitePolicy#SKIP} counts the steps as skipped.
     *
     * @param tensor the tensor holding the weight
     * @param element the weight's flat index in the tensor
     * @throws NonFiniteWeightsException under {@link NonFinitePolicy#FAIL}
     */
    public UpdateResult refused(String tensor, long element, double decay, int steps) {
        if (nonFinitePolicy == NonFinitePolicy.FAIL) {
            throw new NonFiniteWeightsException(tensor, element, updates + skippedUpdates + 1);
        }
        skippedUpdates += steps;
        return new UpdateResult(false, decay, steps, tensor, element);
    }

    /** The decay schedule. */
    public DecaySchedule schedule() {
        return schedule;
    }

    /** What an update does with a NaN or infinite weight. */
    public NonFinitePolicy nonFinitePolicy() {
        return nonFinitePolicy;
    }

    /** Optimizer steps averaged in so far (an update compounded over k steps counts k). */
    public long updates() {
        return updates;
    }

    /** Optimizer steps whose update was skipped for a non-finite weight. */
    public long skippedUpdates() {
        return skippedUpdates;
    }

    /** The decay of the last applied update, NaN before the first. */
    public double lastDecay() {
        return lastDecay;
    }

    /** The decay the next single-step update will use. */
    public double nextDecay() {
        return schedule.decayAt(updates);
    }

    /** The averaging horizon {@code 1 / (1 - decay)} of the last update, in steps; NaN before the first. */
    public double horizon() {
        return 1.0 / (1.0 - lastDecay);
    }

    @Override
    public String toString() {
        return "schedule=" + schedule + ", updates=" + updates + ", skippedUpdates=" + skippedUpdates
                + ", lastDecay=" + lastDecay + ", nonFinitePolicy=" + nonFinitePolicy;
    }
}
