package ema4j.core;

import static ema4j.core.Preconditions.requireArgument;
import static ema4j.core.Preconditions.requireState;

import ema4j.core.schedule.DecaySchedule;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * The mutable heart of an EMA: the shadow of every averaged tensor, the update counter and the schedule.
 *
 * <p>Shadows are float32, or float64 for float64 weights, whatever the live format, and start as a copy of the live
 * weights (as the seed's deep copy does). An update works in place and allocates nothing proportional to the model.
 * Not thread-safe: one training loop owns it.
 */
public final class EmaState {
    /** How long the calling thread spins for the pool's shares of an update before it parks. */
    private static final long AWAIT_SPIN_NANOS = 200_000;

    private final EmaClock clock;
    private final List<TensorSpec> tensors;
    private final Shadow[] shadows;
    private final List<List<Piece>> plan;
    private final ExecutorService pool;
    private final ByteBuffer[] buffers;
    private boolean swapped;

    private EmaState(EmaClock clock, List<TensorSpec> tensors, int threads) {
        requireArgument(threads >= 1, "threads", ">= 1", threads);
        requireArgument(tensors != null, "tensors", "non-null", null);
        Set<String> names = new HashSet<>();
        for (TensorSpec spec : tensors) {
            requireArgument(names.add(spec.name()), "tensor names", "unique", spec.name() + " twice");
        }
        this.clock = clock;
        this.tensors = List.copyOf(tensors);
        this.shadows = new Shadow[tensors.size()];
        for (int i = 0; i < shadows.length; i++) {
            shadows[i] = Shadow.of(tensors.get(i));
        }
        this.buffers = new ByteBuffer[shadows.length];
        this.plan = Piece.plan(tensors, threads);
        this.pool = plan.size() > 1 ? Executors.newFixedThreadPool(plan.size() - 1, r -> {
            Thread t = new Thread(r, "ema4j-update");
            t.setDaemon(true);
            return t;
        }) : null;
    }

    /**
     * A contiguous range of one tensor's elements; each worker thread averages its list of pieces in order.
     *
     * @param tensor index of the tensor
     * @param from first element
     * @param to end of the range, exclusive
     */
    private record Piece(int tensor, int from, int to) {
        /** Splits all elements into {@code threads} runs of about equal size, cut at block boundaries. */
        static List<List<Piece>> plan(List<TensorSpec> tensors, int threads) {
            long total = 0;
            for (TensorSpec t : tensors) {
                total += t.elementCount();
            }
            // below a few blocks per thread, threads cost more than they give
            int workers = (int) Math.max(1, Math.min(threads, total / (4L * Shadow.BLOCK)));
            long share = (total + workers - 1) / workers;
            List<List<Piece>> plan = new ArrayList<>();
            List<Piece> current = new ArrayList<>();
            long room = share;
            for (int i = 0; i < tensors.size(); i++) {
                int size = tensors.get(i).elementCount();
                int from = 0;
                while (from < size) {
                    long take = Math.min(size - from, room);
                    if (take < size - from) {
                        take = Math.max(Shadow.BLOCK, take - take % Shadow.BLOCK);
                        take = Math.min(take, size - from);
                    }
                    current.add(new Piece(i, from, (int) (from + take)));
                    from += (int) take;
                    room -= take;
                    if (room <= 0 && plan.size() < workers - 1) {
                        plan.add(current);
                        current = new ArrayList<>();
                        room = share;
                    }
                }
            }
            plan.add(current);
            return plan;
        }
    }

    /**
     * Starts an EMA whose shadows copy the live weights now; no update has been applied yet.
     *
     * @param schedule the decay schedule
     * @param tensors the averaged tensors, with unique names
     * @param nonFinitePolicy what an update does with a NaN or infinite weight
     * @param live the live weights, in the order of {@code tensors}
     */
    public static EmaState start(DecaySchedule schedule, List<TensorSpec> tensors, NonFinitePolicy nonFinitePolicy,
            LiveWeights live) {
        return start(schedule, tensors, nonFinitePolicy, live, 1);
    }

    /**
     * Starts an EMA whose updates split the elements over {@code threads} threads (daemon threads owned by the
     * state); the result is bit-identical to one thread's.
     */
    public static EmaState start(DecaySchedule schedule, List<TensorSpec> tensors, NonFinitePolicy nonFinitePolicy,
            LiveWeights live, int threads) {
        EmaState state = new EmaState(EmaClock.start(schedule, nonFinitePolicy), tensors, threads);
        for (int i = 0; i < state.shadows.length; i++) {
            state.shadows[i].copyFrom(checked(live, i, state.tensors.get(i)));
        }
        return state;
    }

    /**
     * Restores an EMA from saved values, e.g. a checkpoint.
     *
     * @param values each tensor's shadow in its live format, little-endian, in the order of {@code tensors}
     * @param updates the updates applied before the save
     * @param skippedUpdates the updates skipped for non-finite weights before the save
     */
    public static EmaState restore(DecaySchedule schedule, List<TensorSpec> tensors, NonFinitePolicy nonFinitePolicy,
            LiveWeights values, long updates, long skippedUpdates) {
        return restore(schedule, tensors, nonFinitePolicy, values, updates, skippedUpdates, 1);
    }

    /** {@link #restore} with updates split over {@code threads} threads. */
    public static EmaState restore(DecaySchedule schedule, List<TensorSpec> tensors, NonFinitePolicy nonFinitePolicy,
            LiveWeights values, long updates, long skippedUpdates, int threads) {
        return restore(schedule, tensors, nonFinitePolicy, values, updates, skippedUpdates, threads, false);
    }

    /**
     * Restores a saved EMA from shadows written at their own precision by {@link #writeShadowExact}: unlike
     * {@link #restore}, exact for 16-bit weights too, whose float32 shadows the live format would round.
     *
     * @param values each tensor's shadow at {@link #shadowPrecision(int)}, little-endian, in the order of
     *     {@code tensors}
     */
    public static EmaState restoreExact(DecaySchedule schedule, List<TensorSpec> tensors,
            NonFinitePolicy nonFinitePolicy, LiveWeights values, long updates, long skippedUpdates, int threads) {
        return restore(schedule, tensors, nonFinitePolicy, values, updates, skippedUpdates, threads, true);
    }

    private static EmaState restore(DecaySchedule schedule, List<TensorSpec> tensors, NonFinitePolicy nonFinitePolicy,
            LiveWeights values, long updates, long skippedUpdates, int threads, boolean exact) {
        EmaState state = new EmaState(EmaClock.restore(schedule, nonFinitePolicy, updates, skippedUpdates), tensors,
                threads);
        for (int i = 0; i < state.shadows.length; i++) {
            TensorSpec spec = state.tensors.get(i);
            if (exact) {
                ByteBuffer b = values.buffer(i);
                long bytes = (long) spec.elementCount() * state.shadows[i].precision().bytesPerElement();
                requireArgument(b != null && b.remaining() == bytes, "saved shadow of " + spec.name(),
                        bytes + " bytes (" + state.shadows[i].precision() + ")", b == null ? null : b.remaining());
                state.shadows[i].readExact(b.slice().order(b.order()));
            } else {
                state.shadows[i].readFrom(checked(values, i, spec));
            }
        }
        return state;
    }

    /** One update for one optimizer step; see {@link #update(LiveWeights, int)}. */
    public UpdateResult update(LiveWeights live) {
        return update(live, 1);
    }

    /**
     * Averages the live weights in with the decay of the next {@code steps} updates compounded into one, so that
     * averaging every k-th step keeps the time constant of averaging every step.
     *
     * <p>When a live weight is NaN or infinite the EMA is left as it was: tensors before the faulty one are
     * reverted. A copying update (decay 0, or below 2^-25) checks every tensor before writing, so nothing changes; an
     * averaging update is reverted by inverting its arithmetic, which gives back the earlier value exactly for most
     * elements and otherwise to within the rounding of the averaged value (a unit or two in its last place, divided
     * by the decay), since rounding can map two neighbouring floats to one.
     *
     * @param live the live weights after the optimizer step
     * @param steps optimizer steps this update stands for, {@code >= 1}
     * @throws NonFiniteWeightsException under {@link NonFinitePolicy#FAIL} when a weight is not finite
     */
    public UpdateResult update(LiveWeights live, int steps) {
        requireState(!swapped, "the EMA weights are swapped into the model; close the swap before updating");
        double decay = clock.decayFor(steps);
        int badTensor = -1;
        int badElement = -1;
        if (EmaClock.copies(decay)) {
            for (int i = 0; i < shadows.length && badTensor < 0; i++) {
                int bad = shadows[i].firstNonFinite(checked(live, i, tensors.get(i)));
                if (bad >= 0) {
                    badTensor = i;
                    badElement = bad;
                }
            }
            if (badTensor < 0) {
                for (int i = 0; i < shadows.length; i++) {
                    shadows[i].copyFrom(checked(live, i, tensors.get(i)));
                }
            }
        } else {
            long bad;
            try {
                bad = averageAll(decay, live);
            } finally {
                java.util.Arrays.fill(buffers, null);
            }
            if (bad >= 0) {
                badTensor = (int) (bad >>> 32);
                badElement = (int) bad;
            }
        }
        if (badTensor >= 0) {
            return clock.refused(tensors.get(badTensor).name(), badElement, decay, steps);
        }
        return clock.applied(decay, steps);
    }

    /**
     * Fetches the live buffers and runs every worker's pieces; when a non-finite weight turns up, reverts what every
     * worker had averaged. A worker stops at its own first non-finite weight only, never because another found one:
     * what is averaged and reverted then depends on the weights alone, not on the threads' timing, so the result is
     * the same bits every time. The buffers are fetched before anything is averaged, so a fetch that fails leaves
     * the EMA as it was: by this thread, or, when the live weights allow it ({@link LiveWeights#concurrentBuffers}),
     * by every worker a share, since a framework's fetch of a tensor's memory can cost microseconds. The pool's
     * threads are started before the fetch, so that their wake-up overlaps it.
     *
     * @return -1, or the first non-finite element as {@code tensor << 32 | element}
     */
    private long averageAll(double decay, LiveWeights live) {
        int workers = plan.size();
        int[] stoppedAt = new int[workers];
        long[] found = new long[workers];
        if (workers == 1) {
            for (int i = 0; i < shadows.length; i++) {
                fetch(live, i);
            }
            runWorker(0, decay, stoppedAt, found, live, null);
        } else {
            // the pool's threads wake while the buffers are fetched, not after
            SharedFetch fetch = new SharedFetch(live.concurrentBuffers() ? workers : 1);
            List<java.util.concurrent.Future<?>> running = new ArrayList<>(workers - 1);
            for (int w = 1; w < workers; w++) {
                int worker = w;
                running.add(pool.submit(() -> runWorker(worker, decay, stoppedAt, found, live, fetch)));
            }
            runWorker(0, decay, stoppedAt, found, live, fetch);
            for (java.util.concurrent.Future<?> f : running) {
                awaitShare(f);
            }
            fetch.rethrowFailure();
        }
        long first = -1;
        for (long f : found) {
            if (f >= 0 && (first < 0 || f < first)) {
                first = f;
            }
        }
        if (first < 0) {
            return -1;
        }
        for (int w = 0; w < workers; w++) {
            List<Piece> pieces = plan.get(w);
            for (int k = 0; k < stoppedAt[w] && k < pieces.size(); k++) {
                Piece p = pieces.get(k);
                shadows[p.tensor].undoAverage(buffers[p.tensor], decay, p.from, p.to);
            }
            if (found[w] >= 0) {
                Piece p = pieces.get(stoppedAt[w]);
                shadows[p.tensor].undoAverage(buffers[p.tensor], decay, p.from, (int) found[w]);
            }
        }
        return first;
    }

    /**
     * Waits for a pool thread's share of an update. The shares are of equal size and end at about the same time, so
     * it spins a little first (up to {@link #AWAIT_SPIN_NANOS}): parking this thread would add a wake-up, tens of
     * microseconds, to every update.
     */
    private static void awaitShare(java.util.concurrent.Future<?> share) {
        long start = System.nanoTime();
        while (!share.isDone() && System.nanoTime() - start < AWAIT_SPIN_NANOS) {
            Thread.onSpinWait();
        }
        try {
            share.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted during an EMA update", e);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException("EMA update failed: " + e.getCause(), e.getCause());
        }
    }

    /** Fetches and checks the live buffer of tensor {@code i}. */
    private void fetch(LiveWeights live, int i) {
        buffers[i] = checked(live, i, tensors.get(i));
    }

    private void runWorker(int worker, double decay, int[] stoppedAt, long[] found, LiveWeights live,
            SharedFetch fetch) {
        List<Piece> pieces = plan.get(worker);
        found[worker] = -1;
        if (fetch != null && !fetch.fetchThenAwaitAll(worker, shadows.length, i -> fetch(live, i))) {
            stoppedAt[worker] = 0;
            return;
        }
        int k = 0;
        for (; k < pieces.size(); k++) {
            Piece p = pieces.get(k);
            int bad = shadows[p.tensor].average(buffers[p.tensor], decay, p.from, p.to);
            if (bad >= 0) {
                found[worker] = ((long) p.tensor << 32) | bad;
                break;
            }
        }
        stoppedAt[worker] = k;
    }

    /**
     * The fetch of the buffers, by the calling thread alone or by every worker a share, and the workers' wait for it
     * before any averages: nothing is averaged unless every fetch succeeded, and the failure of the lowest tensor is
     * thrown, as one thread fetching them in order would throw it. The wait spins (a fetch takes about as long as the
     * pool's wake-up), and yields the core after a while.
     */
    private static final class SharedFetch {
        private final int fetchers;
        private final java.util.concurrent.atomic.AtomicInteger fetching;
        private int failedTensor = -1;
        private Throwable failure;

        /** @param fetchers the workers that fetch, 0 to {@code fetchers - 1}; 1 when only the calling thread may */
        SharedFetch(int fetchers) {
            this.fetchers = fetchers;
            this.fetching = new java.util.concurrent.atomic.AtomicInteger(fetchers);
        }

        /**
         * Fetches tensors {@code worker}, {@code worker + fetchers}, ... below {@code tensors} (up to the first that
         * fails) when this worker is a fetcher, then waits until every fetcher's share is done; true when all
         * succeeded.
         */
        boolean fetchThenAwaitAll(int worker, int tensors, java.util.function.IntConsumer fetchOne) {
            if (worker < fetchers) {
                int i = worker;
                try {
                    for (; i < tensors; i += fetchers) {
                        fetchOne.accept(i);
                    }
                } catch (Throwable t) {
                    fail(i, t);
                } finally {
                    fetching.decrementAndGet();
                }
            }
            for (int spins = 0; fetching.get() > 0; spins++) {
                if (spins < 10_000) {
                    Thread.onSpinWait();
                } else {
                    Thread.yield();
                }
            }
            return failed() == null;
        }

        private synchronized void fail(int tensor, Throwable t) {
            if (failure == null || tensor < failedTensor) {
                failedTensor = tensor;
                failure = t;
            }
        }

        private synchronized Throwable failed() {
            return failure;
        }

        /** Throws the failure of the lowest tensor's fetch, as it was thrown; nothing when all succeeded. */
        void rethrowFailure() {
            Throwable t = failed();
            if (t instanceof RuntimeException e) {
                throw e;
            }
            if (t instanceof Error e) {
                throw e;
            }
            if (t != null) {
                throw new IllegalStateException("fetching the live weights failed: " + t, t);
            }
        }
    }

    /**
     * Exchanges the shadows with the live weights; the second call exchanges them back, bit-exactly. While swapped
     * the live model holds the EMA weights and updates are refused.
     */
    public void exchange(LiveWeights live) {
        for (int i = 0; i < shadows.length; i++) {
            shadows[i].exchange(checked(live, i, tensors.get(i)));
        }
        swapped = !swapped;
    }

    /** Whether the EMA weights are swapped into the live model now. */
    public boolean swapped() {
        return swapped;
    }

    /**
     * Writes tensor {@code index}'s shadow into {@code target} in the live format (little-endian or native order as
     * the buffer says).
     */
    public void writeShadow(int index, ByteBuffer target) {
        requireState(!swapped, "the EMA weights are swapped into the model; read them there or close the swap");
        TensorSpec spec = tensors.get(index);
        requireArgument(target.remaining() >= (long) spec.elementCount() * spec.format().bytesPerElement(),
                "target of " + spec.name(), "at least " + (long) spec.elementCount() * spec.format().bytesPerElement()
                        + " bytes", target.remaining());
        shadows[index].writeTo(target.slice().order(target.order()));
    }

    /** The precision tensor {@code index}'s shadow is held at: float32, or float64 for float64 weights. */
    public WeightFormat shadowPrecision(int index) {
        return shadows[index].precision();
    }

    /**
     * Writes tensor {@code index}'s shadow into {@code target} at its own precision ({@link #shadowPrecision}), in
     * the buffer's byte order: what {@link #restoreExact} reads back bit for bit.
     */
    public void writeShadowExact(int index, ByteBuffer target) {
        requireState(!swapped, "the EMA weights are swapped into the model; close the swap first");
        long bytes = (long) tensors.get(index).elementCount() * shadows[index].precision().bytesPerElement();
        requireArgument(target.remaining() >= bytes, "target of " + tensors.get(index).name(), "at least " + bytes
                + " bytes", target.remaining());
        shadows[index].writeExact(target.slice().order(target.order()));
    }

    /** Tensor {@code index}'s shadow widened to double; a copy, for tests and reports. */
    public double[] shadowValues(int index) {
        requireState(!swapped, "the EMA weights are swapped into the model; read them there or close the swap");
        return shadows[index].toDoubleArray();
    }

    /**
     * How far the EMA is from the live weights: {@code |EMA - w| / |w|} in the L2 norm over all averaged tensors.
     * Computed on request, never during updates.
     */
    public double drift(LiveWeights live) {
        requireState(!swapped, "the EMA weights are swapped into the model; close the swap before measuring drift");
        double[] sums = new double[2];
        for (int i = 0; i < shadows.length; i++) {
            shadows[i].accumulateDrift(checked(live, i, tensors.get(i)), sums);
        }
        return sums[1] == 0 ? (sums[0] == 0 ? 0 : Double.POSITIVE_INFINITY) : Math.sqrt(sums[0] / sums[1]);
    }

    /** A copy of the counts and decay of the updates so far. */
    public EmaClock clock() {
        return clock.copy();
    }

    /** The decay schedule. */
    public DecaySchedule schedule() {
        return clock.schedule();
    }

    /** What an update does with a NaN or infinite weight. */
    public NonFinitePolicy nonFinitePolicy() {
        return clock.nonFinitePolicy();
    }

    /** The averaged tensors, in order. */
    public List<TensorSpec> tensors() {
        return tensors;
    }

    /** Optimizer steps averaged in so far (an update compounded over k steps counts k). */
    public long updates() {
        return clock.updates();
    }

    /** Optimizer steps whose update was skipped for a non-finite weight. */
    public long skippedUpdates() {
        return clock.skippedUpdates();
    }

    /** The decay of the last applied update, NaN before the first. */
    public double lastDecay() {
        return clock.lastDecay();
    }

    /** The decay the next single-step update will use. */
    public double nextDecay() {
        return clock.nextDecay();
    }

    /** The averaging horizon {@code 1 / (1 - decay)} of the last update, in steps; NaN before the first. */
    public double horizon() {
        return clock.horizon();
    }

    /**
     * Which float32 kernel this JVM runs, in one line for logs and benchmark reports: the compiled one, the Vector
     * API's with its vector width, or the scalar one, with the reason each faster one is not used. All give the
     * same bits.
     */
    public static String kernel() {
        if (NativeKernel.AVAILABLE) {
            return "compiled kernel (" + NativeKernel.status() + ")";
        }
        String why = "; compiled kernel: " + NativeKernel.status();
        return VectorKernels.AVAILABLE ? "Vector API kernel, " + 16 * VectorKernels.pairLength() + "-bit vectors" + why
                : "scalar kernel (no Vector API: run the JVM with --add-modules jdk.incubator.vector)" + why;
    }

    /** Bytes held in shadows. */
    public long shadowBytes() {
        long total = 0;
        for (Shadow shadow : shadows) {
            total += shadow.bytes();
        }
        return total;
    }

    private static ByteBuffer checked(LiveWeights live, int index, TensorSpec spec) {
        ByteBuffer buffer = live.buffer(index);
        long expected = (long) spec.elementCount() * spec.format().bytesPerElement();
        // the message is built only on failure: this runs for every tensor of every update
        if (buffer == null || buffer.remaining() < expected) {
            requireArgument(false, "live buffer of " + spec.name(), expected + " bytes",
                    buffer == null ? "null" : buffer.remaining() + " bytes");
        }
        ByteBuffer view = buffer.slice();
        return view.order(buffer.order());
    }

    @Override
    public String toString() {
        return "EmaState{" + clock + ", tensors=" + tensors.size() + "}";
    }

    /** The names of the averaged tensors, in order. */
    public List<String> names() {
        List<String> names = new ArrayList<>(tensors.size());
        for (TensorSpec spec : tensors) {
            names.add(spec.name());
        }
        return names;
    }
}
