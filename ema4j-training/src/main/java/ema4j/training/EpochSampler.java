package ema4j.training;

import ai.djl.training.dataset.RandomAccessDataset;
import ai.djl.training.dataset.Sampler;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Batches in an order that is a function of (seed, epoch) alone, so a run resumed at any batch of any epoch sees
 * exactly the batches the uninterrupted run would have seen. DJL's own random sampler draws from one generator
 * shared by the whole JVM, whose state cannot be saved.
 *
 * <p>Each call of {@link #sample} is one epoch; {@link #resumeAt} sets the epoch and the batches to skip.
 */
public final class EpochSampler implements Sampler {
    private final int batchSize;
    private final long seed;
    private int epoch;
    private int skipBatches;

    /**
     * @param batchSize examples per batch, the last batch of an epoch may be smaller
     * @param seed the run's seed
     */
    public EpochSampler(int batchSize, long seed) {
        this.batchSize = batchSize;
        this.seed = seed;
    }

    /** The next {@link #sample} call is epoch {@code epoch} (0-based), starting after {@code batches} batches. */
    public void resumeAt(int epoch, int batches) {
        this.epoch = epoch;
        this.skipBatches = batches;
    }

    @Override
    public Iterator<List<Long>> sample(RandomAccessDataset dataset) {
        int size = Math.toIntExact(dataset.size());
        long[] order = new long[size];
        for (int i = 0; i < size; i++) {
            order[i] = i;
        }
        SplittableRandom random = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + epoch);
        for (int i = size - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            long t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        List<List<Long>> batches = new ArrayList<>();
        for (int start = skipBatches * batchSize; start < size; start += batchSize) {
            List<Long> batch = new ArrayList<>(batchSize);
            for (int i = start; i < Math.min(size, start + batchSize); i++) {
                batch.add(order[i]);
            }
            batches.add(batch);
        }
        epoch++;
        skipBatches = 0;
        return batches.iterator();
    }

    @Override
    public int getBatchSize() {
        return batchSize;
    }
}
