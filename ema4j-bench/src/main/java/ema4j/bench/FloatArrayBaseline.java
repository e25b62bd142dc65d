package ema4j.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The same-run baseline: the EMA update {@code e[i] = fma(a, w[i] - e[i], e[i])} over plain {@code float[]} arrays,
 * one per tensor, with no non-finite check, as fast as the JIT makes a simple loop.
 *
 * <p>Threads split the concatenated element range into equal runs cut at multiples of 256 elements, as
 * {@code EmaState} does; the calling thread runs the first run and a small fixed pool of daemon threads the rest.
 * Not thread-safe.
 */
final class FloatArrayBaseline implements AutoCloseable {
    private static final int CUT = 256;

    private final float[][] shadow;
    private final float[][] live;
    private final List<List<int[]>> plan;
    private final ExecutorService pool;
    private final List<Future<?>> running = new ArrayList<>();

    /**
     * @param shadow the averaged arrays, updated in place
     * @param live the live weights, same lengths as {@code shadow}
     * @param threads threads to split the range over, {@code >= 1}
     */
    FloatArrayBaseline(float[][] shadow, float[][] live, int threads) {
        this.shadow = shadow;
        this.live = live;
        this.plan = plan(shadow, threads);
        this.pool = plan.size() > 1 ? Executors.newFixedThreadPool(plan.size() - 1, r -> {
            Thread t = new Thread(r, "baseline-update");
            t.setDaemon(true);
            return t;
        }) : null;
    }

    /** One update with weight {@code a = 1 - decay} on the live values. */
    void update(float a) {
        running.clear();
        for (int w = 1; w < plan.size(); w++) {
            List<int[]> pieces = plan.get(w);
            running.add(pool.submit(() -> run(pieces, a)));
        }
        run(plan.get(0), a);
        for (Future<?> f : running) {
            try {
                f.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted", e);
            } catch (ExecutionException e) {
                throw new IllegalStateException(e.getCause());
            }
        }
    }

    private void run(List<int[]> pieces, float a) {
        for (int[] p : pieces) {
            average(shadow[p[0]], live[p[0]], a, p[1], p[2]);
        }
    }

    private static void average(float[] e, float[] w, float a, int from, int to) {
        for (int i = from; i < to; i++) {
            e[i] = Math.fma(a, w[i] - e[i], e[i]);
        }
    }

    /** Pieces {tensor, from, to} per worker: equal shares of the concatenated range. */
    private static List<List<int[]>> plan(float[][] arrays, int threads) {
        long total = 0;
        for (float[] a : arrays) {
            total += a.length;
        }
        int workers = (int) Math.max(1, Math.min(threads, total / (4L * CUT)));
        long share = (total + workers - 1) / workers;
        List<List<int[]>> plan = new ArrayList<>();
        List<int[]> current = new ArrayList<>();
        long room = share;
        for (int t = 0; t < arrays.length; t++) {
            int size = arrays[t].length;
            int from = 0;
            while (from < size) {
                long take = Math.min(size - from, room);
                if (take < size - from) {
                    take = Math.min(size - from, Math.max(CUT, take - take % CUT));
                }
                current.add(new int[] {t, from, (int) (from + take)});
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

    @Override
    public void close() {
        if (pool != null) {
            pool.shutdownNow();
        }
    }
}
