package ema4j.core;

import static ema4j.core.internal.Preconditions.requireArgument;
import static ema4j.core.internal.Preconditions.requireState;

import ema4j.core.internal.EmaClock;
import ema4j.core.schedule.DecaySchedule;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The mutable heart of an EMA: the shadow of every averaged tensor, the update counts and the schedule.
 *
 * <p>Shadows are float32, or float64 for float64 weights, whatever the live format, and start as a copy of the live
 * weights (as diffusion_policy's {@code EMAModel} starts from a deep copy of the model). An update works in place and
 * allocates nothing proportional to the model; with {@link Builder#threads} above 1 its elements are split over
 * threads the state owns until {@link #close()}, with the same result as one thread. What an update does with a NaN
 * or infinite weight is said once, in {@link NonFinitePolicy}. Not thread-safe: one training loop owns it.
 */
public final class EmaState implements AutoCloseable {
    /**
     * Below this decay every weight is checked before anything is written: undoing an update there would miss the
     * earlier value by up to the averaged value's rounding divided by the decay (and a copy cannot be undone at all).
     * Only the first updates of a warmup or of a power-function schedule have such decays, so the second pass over the
     * weights is rare.
     */
    private static final double CHECK_FIRST_BELOW = 0.5;

    private final EmaClock clock;
    private final List<TensorSpec> tensors;
    private final Shadow[] shadows;
    /** Where each tensor starts in the numbering of all elements across the tensors; the last entry is the total. */
    private final long[] offsets;
    private final UpdateThreads threads;
    /** The live buffers of the update in progress, all fetched before any thread averages; null otherwise. */
    private final ByteBuffer[] buffers;
    private boolean swapped;
    private boolean closed;

    private EmaState(EmaClock clock, List<TensorSpec> tensors, int threads, Arithmetic arithmetic) {
        requireArgument(tensors != null, "tensors", "non-null", null);
        Set<String> names = new HashSet<>();
        for (TensorSpec spec : tensors) {
            requireArgument(names.add(spec.name()), "tensor names", "unique", spec.name() + " twice");
        }
        this.clock = clock;
        this.tensors = List.copyOf(tensors);
        this.shadows = new Shadow[tensors.size()];
        this.offsets = new long[tensors.size() + 1];
        for (int i = 0; i < shadows.length; i++) {
            shadows[i] = Shadow.of(tensors.get(i), arithmetic);
            offsets[i + 1] = offsets[i] + tensors.get(i).elementCount();
        }
        this.buffers = new ByteBuffer[shadows.length];
        this.threads = new UpdateThreads(offsets[shadows.length], threads);
    }

    /** A builder for an EMA with {@code schedule}: a non-finite policy and a thread count, then start or restore. */
    public static Builder builder(DecaySchedule schedule) {
        return new Builder(schedule);
    }

    /** One update for one optimizer step; see {@link #update(LiveWeights, int)}. */
    public UpdateResult update(LiveWeights live) {
        return update(live, 1);
    }

    /**
     * Averages the live weights in with the decay of the next {@code steps} updates compounded into one, so that
     * averaging every k-th step keeps the time constant of averaging every step. A NaN or infinite weight refuses
     * the update as {@link NonFinitePolicy} says.
     *
     * @param live the live weights after the optimizer step
     * @param steps optimizer steps this update stands for, {@code >= 1}
     * @throws NonFiniteWeightsException under {@link NonFinitePolicy#FAIL} when a weight is not finite
     */
    public UpdateResult update(LiveWeights live, int steps) {
        requireState(!closed, "this EMA is closed");
        requireState(!swapped, "the EMA weights are swapped into the model; close the swap before updating");
        double decay = clock.decayFor(steps);
        long bad;
        try {
            for (int i = 0; i < shadows.length; i++) {
                buffers[i] = checked(live, i);
            }
            bad = decay < CHECK_FIRST_BELOW ? firstNonFinite() : -1;
            if (bad < 0) {
                bad = averageAll(decay);
            }
        } finally {
            Arrays.fill(buffers, null);
        }
        if (bad >= 0) {
            int tensor = tensorOf(bad);
            return clock.refused(tensors.get(tensor).name(), bad - offsets[tensor], decay, steps);
        }
        return clock.applied(decay, steps);
    }

    /** The first element whose live weight is NaN or infinite, or -1. */
    private long firstNonFinite() {
        for (int i = 0; i < shadows.length; i++) {
            int bad = shadows[i].firstNonFinite(buffers[i]);
            if (bad >= 0) {
                return offsets[i] + bad;
            }
        }
        return -1;
    }

    /**
     * Averages every run of elements on its thread; when a run met a non-finite weight, undoes what every run had
     * averaged. Returns the first bad element or -1.
     */
    private long averageAll(double decay) {
        long[] stops = threads.runAll((from, to) -> eachPiece(from, to, (i, start, end) -> {
            int bad = shadows[i].average(buffers[i], decay, start, end);
            return bad < 0 ? -1 : offsets[i] + bad;
        }));
        long first = -1;
        for (int run = 0; run < stops.length && first < 0; run++) {
            first = stops[run];
        }
        if (first >= 0) {
            for (int run = 0; run < stops.length; run++) {
                eachPiece(threads.from(run), stops[run] >= 0 ? stops[run] : threads.to(run), (i, start, end) -> {
                    shadows[i].undoAverage(buffers[i], decay, start, end);
                    return -1;
                });
            }
        }
        return first;
    }

    /** Work on one tensor's elements {@code [start, end)}: -1 to go on, else an element number to stop at. */
    @FunctionalInterface
    private interface Piece {
        long apply(int tensor, int start, int end);
    }

    /** Applies {@code piece} to each tensor's share of elements {@code [from, to)} in order, until one stops. */
    private long eachPiece(long from, long to, Piece piece) {
        long stop = -1;
        for (int i = tensorOf(from); stop < 0 && i < shadows.length && offsets[i] < to; i++) {
            int start = (int) (Math.max(from, offsets[i]) - offsets[i]);
            int end = (int) (Math.min(to, offsets[i + 1]) - offsets[i]);
            if (start < end) {
                stop = piece.apply(i, start, end);
            }
        }
        return stop;
    }

    /** The last tensor that starts at or before {@code element}. */
    private int tensorOf(long element) {
        int low = 0;
        int high = shadows.length - 1;
        while (low < high) {
            int middle = (low + high + 1) >>> 1;
            if (offsets[middle] <= element) {
                low = middle;
            } else {
                high = middle - 1;
            }
        }
        return low;
    }

    /**
     * Exchanges the shadows with the live weights; the second call exchanges them back, bit-exactly. While swapped
     * the live model holds the EMA weights and updates are refused.
     */
    public void exchange(LiveWeights live) {
        for (int i = 0; i < shadows.length; i++) {
            shadows[i].exchange(checked(live, i));
        }
        swapped = !swapped;
    }

    /** Whether the EMA weights are swapped into the live model now. */
    public boolean swapped() {
        return swapped;
    }

    /**
     * Writes the shadow of tensor {@code name} into {@code target} in the live format (rounded to nearest even where
     * that is narrower than the shadow), in the target's byte order.
     *
     * @throws IllegalArgumentException when there is no such tensor or the target is too small
     */
    public void writeShadow(String name, ByteBuffer target) {
        requireState(!swapped, "the EMA weights are swapped into the model; read them there or close the swap");
        int index = indexOf(name);
        TensorSpec spec = tensors.get(index);
        long bytes = (long) spec.elementCount() * spec.format().bytesPerElement();
        requireArgument(target.remaining() >= bytes, "target of " + spec.name(), "at least " + bytes + " bytes",
                target.remaining());
        shadows[index].writeTo(target.slice().order(target.order()));
    }

    /** The shadow of tensor {@code name} widened to double; a copy, for tests and reports. */
    public double[] shadowValues(String name) {
        requireState(!swapped, "the EMA weights are swapped into the model; read them there or close the swap");
        return shadows[indexOf(name)].toDoubleArray();
    }

    private int indexOf(String name) {
        for (int i = 0; i < shadows.length; i++) {
            if (tensors.get(i).name().equals(name)) {
                return i;
            }
        }
        throw new IllegalArgumentException("name must be one of the averaged tensors, was " + name);
    }

    /**
     * The schedule, the counts and a copy of every shadow at its own precision: what {@link Builder#restore} turns
     * back into this EMA bit for bit.
     */
    public EmaSnapshot snapshot() {
        requireState(!swapped, "the EMA weights are swapped into the model; close the swap first");
        List<EmaSnapshot.SavedShadow> saved = new ArrayList<>(shadows.length);
        for (int i = 0; i < shadows.length; i++) {
            ByteBuffer values = ByteBuffer.allocate(Math.toIntExact(shadows[i].bytes())).order(ByteOrder.LITTLE_ENDIAN);
            shadows[i].writeExact(values);
            TensorSpec spec = tensors.get(i);
            saved.add(new EmaSnapshot.SavedShadow(new TensorSpec(spec.name(), spec.shape(), shadows[i].precision()),
                    values));
        }
        return EmaSnapshot.of(clock.schedule(), clock.updates(), clock.skippedUpdates(), saved);
    }

    /**
     * How far the EMA is from the live weights: {@code |EMA - w| / |w|} in the L2 norm over all averaged tensors.
     * Computed on request, never during updates.
     */
    public double drift(LiveWeights live) {
        requireState(!swapped, "the EMA weights are swapped into the model; close the swap before measuring drift");
        double[] sums = new double[2];
        for (int i = 0; i < shadows.length; i++) {
            shadows[i].accumulateDrift(checked(live, i), sums);
        }
        return sums[1] == 0 ? (sums[0] == 0 ? 0 : Double.POSITIVE_INFINITY) : Math.sqrt(sums[0] / sums[1]);
    }

    /** A copy of the schedule, counts and decay of the updates so far. */
    public EmaClock clock() {
        return clock.copy();
    }

    /** The averaged tensors, in order. */
    public List<TensorSpec> tensors() {
        return tensors;
    }

    /** Optimizer steps averaged in so far (an update compounded over k steps counts k). */
    public long updates() {
        return clock.updates();
    }

    /** Optimizer steps whose update was refused for a non-finite weight. */
    public long skippedUpdates() {
        return clock.skippedUpdates();
    }

    /** Bytes held in shadows. */
    public long shadowBytes() {
        long total = 0;
        for (Shadow shadow : shadows) {
            total += shadow.bytes();
        }
        return total;
    }

    /**
     * Which float32 kernel this JVM runs, in one line: the Vector API's with its vector width, or the scalar one with
     * the reason and the fix. Both give the same bits.
     */
    public static String kernel() {
        return FloatShadow.KERNEL;
    }

    /** Stops the update's threads; later updates are refused. The shadows stay readable. */
    @Override
    public void close() {
        closed = true;
        threads.close();
    }

    private ByteBuffer checked(LiveWeights live, int index) {
        ByteBuffer buffer = live.buffer(index);
        TensorSpec spec = tensors.get(index);
        long expected = (long) spec.elementCount() * spec.format().bytesPerElement();
        // the message is built only on failure: this runs for every tensor of every update
        if (buffer == null || buffer.remaining() < expected) {
            requireArgument(false, "live buffer of " + spec.name(), expected + " bytes",
                    buffer == null ? "null" : buffer.remaining() + " bytes");
        }
        return buffer.slice().order(buffer.order());
    }

    @Override
    public String toString() {
        return "EmaState{" + clock + ", tensors=" + tensors.size() + ", threads=" + threads.runs() + "}";
    }

    /** Options of an {@link EmaState}; {@link #start} and {@link #restore} build it. */
    public static final class Builder {
        private final DecaySchedule schedule;
        private NonFinitePolicy nonFinite = NonFinitePolicy.FAIL;
        private int threads = 1;
        private Arithmetic arithmetic = Arithmetic.FUSED;

        private Builder(DecaySchedule schedule) {
            requireArgument(schedule != null, "schedule", "non-null", null);
            this.schedule = schedule;
        }

        /** What an update does with a NaN or infinite weight; {@link NonFinitePolicy#FAIL} by default. */
        public Builder nonFinite(NonFinitePolicy policy) {
            requireArgument(policy != null, "nonFinite", "non-null", null);
            this.nonFinite = policy;
            return this;
        }

        /** How an update rounds; {@link Arithmetic#FUSED} by default. */
        public Builder arithmetic(Arithmetic arithmetic) {
            requireArgument(arithmetic != null, "arithmetic", "non-null", null);
            this.arithmetic = arithmetic;
            return this;
        }

        /**
         * Splits each update over up to {@code threads} threads (the calling one and daemon threads the EMA owns),
         * at least 16,384 elements each; default 1, at most {@code Runtime.availableProcessors()}, which uses every
         * core. The result is the same for any number.
         */
        public Builder threads(int threads) {
            int cores = Runtime.getRuntime().availableProcessors();
            requireArgument(threads >= 1 && threads <= cores, "threads", "in [1, " + cores + "]", threads);
            this.threads = threads;
            return this;
        }

        /**
         * Starts an EMA whose shadows copy the live weights now; no update has been applied yet.
         *
         * @param tensors the averaged tensors, with unique names
         * @param live the live weights, in the order of {@code tensors}
         */
        public EmaState start(List<TensorSpec> tensors, LiveWeights live) {
            EmaState state = new EmaState(EmaClock.start(schedule, nonFinite), tensors, threads, arithmetic);
            for (int i = 0; i < state.shadows.length; i++) {
                state.shadows[i].copyFrom(state.checked(live, i));
            }
            return state;
        }

        /**
         * Restores an EMA from a {@link EmaState#snapshot() snapshot}, e.g. a checkpoint's, bit for bit.
         *
         * @param tensors the averaged tensors; the snapshot must hold exactly their shadows
         * @throws IllegalArgumentException when the snapshot's schedule is not this builder's, or its shadows do not
         *     match {@code tensors} (every difference is named)
         */
        public EmaState restore(List<TensorSpec> tensors, EmaSnapshot snapshot) {
            requireArgument(snapshot != null, "snapshot", "non-null", null);
            snapshot.requireSchedule(schedule);
            snapshot.requireShadowsOf(tensors);
            EmaState state = new EmaState(EmaClock.restore(schedule, nonFinite, snapshot.updates(),
                    snapshot.skippedUpdates()), tensors, threads, arithmetic);
            for (int i = 0; i < state.shadows.length; i++) {
                state.shadows[i].readExact(snapshot.shadow(state.tensors.get(i).name()));
            }
            return state;
        }
    }
}
