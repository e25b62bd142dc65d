package ema4j.core;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Splits a pass over all of an EMA's elements into contiguous runs of about equal size, one per thread, and runs
 * them: the first on the calling thread, the others on a fixed pool of daemon threads that {@link #close()} stops.
 * Elements are numbered across the tensors in order, so a run may span several tensors or part of one. Every element
 * is computed alone, so the result does not depend on the number of threads.
 */
final class UpdateThreads implements AutoCloseable {
    /** The fewest elements worth a thread of their own: handing a run to a pool thread costs tens of microseconds. */
    static final long MIN_RUN = 1 << 14;

    /** The work of one run over elements {@code [from, to)}: -1 when it went through, else where it stopped. */
    @FunctionalInterface
    interface Run {
        long apply(long from, long to);
    }

    /** Run {@code r} covers elements {@code [bounds[r], bounds[r + 1])}. */
    private final long[] bounds;
    private final ExecutorService pool;

    UpdateThreads(long elements, int threads) {
        int runs = (int) Math.max(1, Math.min(threads, elements / MIN_RUN));
        bounds = new long[runs + 1];
        for (int r = 1; r < runs; r++) {
            bounds[r] = elements * r / runs & ~15L;   // a whole 64-byte line of float32 to each thread
        }
        bounds[runs] = elements;
        pool = runs == 1 ? null : Executors.newFixedThreadPool(runs - 1, task -> {
            Thread thread = new Thread(task, "ema4j-update");
            thread.setDaemon(true);
            return thread;
        });
    }

    int runs() {
        return bounds.length - 1;
    }

    long from(int run) {
        return bounds[run];
    }

    long to(int run) {
        return bounds[run + 1];
    }

    /**
     * Runs {@code work} over every run and returns each run's result once all have finished, also when one failed
     * or this thread is interrupted while it waits (the interrupt is kept): no run is ever left writing.
     */
    long[] runAll(Run work) {
        long[] results = new long[runs()];
        List<Future<?>> others = new ArrayList<>();
        for (int r = 1; r < runs(); r++) {
            int run = r;
            others.add(pool.submit(() -> results[run] = work.apply(bounds[run], bounds[run + 1])));
        }
        Throwable failure = null;
        try {
            results[0] = work.apply(bounds[0], bounds[1]);
        } catch (RuntimeException | Error e) {
            failure = e;
        }
        boolean interrupted = false;
        for (int r = 0; r < others.size(); r++) {
            try {
                others.get(r).get();
            } catch (InterruptedException e) {
                interrupted = true;
                r--;   // wait for this run again
            } catch (ExecutionException e) {
                failure = failure != null ? failure : e.getCause();
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        if (failure instanceof Error e) {
            throw e;
        }
        if (failure != null) {
            throw (RuntimeException) failure;   // a run throws nothing checked
        }
        return results;
    }

    /** Stops the pool's threads; only after the last {@link #runAll}. */
    @Override
    public void close() {
        if (pool != null) {
            pool.shutdown();
        }
    }
}
