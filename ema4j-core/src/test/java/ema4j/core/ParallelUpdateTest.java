package ema4j.core;

import static org.assertj.core.api.Assertions.assertThat;

import ema4j.core.schedule.DecaySchedule;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/**
 * The fast paths (Vector API kernel, several threads) against the reference scalar kernel on one thread;
 * {@link NativeKernelTest} does the same for the compiled kernel.
 */
class ParallelUpdateTest {

    private static ByteBuffer direct(float[] values) {
        return direct(values, 0, ByteOrder.nativeOrder());
    }

    /** The values in a direct buffer whose first byte lies {@code shift} bytes past a 64-byte boundary. */
    static ByteBuffer direct(float[] values, int shift, ByteOrder order) {
        ByteBuffer whole = ByteBuffer.allocateDirect(4 * values.length + 128);
        int start = whole.alignmentOffset(0, 64) == 0 ? 0 : 64 - whole.alignmentOffset(0, 64);
        ByteBuffer b = whole.position(start + shift).limit(start + shift + 4 * values.length).slice().order(order);
        b.asFloatBuffer().put(values);
        return b;
    }

    @Property(tries = 300)
    void theVectorKernelGivesTheBitsOfTheScalarKernel(@ForAll @IntRange(min = 0, max = 9000) int size,
            @ForAll @IntRange(min = 0, max = 9000) int from, @ForAll @IntRange(min = -1, max = 9000) int nanAt,
            @ForAll @IntRange(min = -1, max = 9000) int overflowAt, @ForAll @IntRange(min = 0, max = 63) int shift,
            @ForAll boolean bigEndian, @ForAll long seed) {
        from = Math.min(from, size);
        Random random = new Random(seed);
        float[] e = new float[size];
        float[] w = new float[size];
        for (int i = 0; i < size; i++) {
            e[i] = (float) random.nextGaussian();
            w[i] = (float) random.nextGaussian() * 10;
        }
        if (overflowAt >= 0 && overflowAt < size) {
            // finite, but w - e overflows to infinity: must be averaged (as the scalar kernel does), not reported
            w[overflowAt] = Float.MAX_VALUE;
            e[overflowAt] = -Float.MAX_VALUE;
        }
        if (nanAt >= 0 && nanAt < size) {
            w[nanAt] = random.nextBoolean() ? Float.NaN : Float.NEGATIVE_INFINITY;
        }
        float[] reference = e.clone();
        float a = (float) (1 - 0.999);
        assertThat(VectorKernels.AVAILABLE).as("the tests run with --add-modules jdk.incubator.vector").isTrue();
        int expected = FloatShadow.averageScalar(reference, FloatBuffer.wrap(w), a, from, size);
        // any alignment (the kernel reads aligned vectors after a scalar head; none when not a multiple of 4), either
        // byte order
        int actual = FloatShadow.averageVector(e, direct(w, shift, bigEndian ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN),
                a, from, size);
        assertThat(actual).isEqualTo(expected);
        assertThat(e).containsExactly(reference);
    }

    /** The buffers, fetched by the update's threads at once; the threads that fetched go to {@code by}. */
    private static LiveWeights fetchedConcurrently(List<ByteBuffer> buffers, java.util.Set<Thread> by) {
        return new LiveWeights() {
            @Override
            public ByteBuffer buffer(int index) {
                by.add(Thread.currentThread());
                return buffers.get(index);
            }

            @Override
            public boolean concurrentBuffers() {
                return true;
            }
        };
    }

    @Property(tries = 40)
    void severalThreadsGiveTheBitsOfOneThread(@ForAll @Size(min = 1, max = 12) List<@IntRange(min = 0, max = 40_000) Integer> sizes,
            @ForAll @IntRange(min = 2, max = 4) int threads, @ForAll @IntRange(min = -1, max = 200_000) int nanAt,
            @ForAll long seed) {
        Random random = new Random(seed);
        List<TensorSpec> specs = new ArrayList<>();
        List<float[]> first = new ArrayList<>();
        List<float[]> second = new ArrayList<>();
        int total = 0;
        for (int i = 0; i < sizes.size(); i++) {
            specs.add(new TensorSpec("p" + i, new long[] {sizes.get(i)}, WeightFormat.FLOAT32));
            float[] a = new float[sizes.get(i)];
            float[] b = new float[sizes.get(i)];
            for (int k = 0; k < a.length; k++) {
                a[k] = (float) random.nextGaussian();
                b[k] = (float) random.nextGaussian();
                if (total + k == nanAt) {
                    b[k] = Float.NaN;
                }
            }
            total += a.length;
            first.add(a);
            second.add(b);
        }
        List<ByteBuffer> live = new ArrayList<>();
        first.forEach(a -> live.add(direct(a)));
        EmaState one = EmaState.start(DecaySchedule.constant(0.9), specs, NonFinitePolicy.SKIP, live::get, 1);
        EmaState many = EmaState.start(DecaySchedule.constant(0.9), specs, NonFinitePolicy.SKIP, live::get, threads);
        EmaState shared = EmaState.start(DecaySchedule.constant(0.9), specs, NonFinitePolicy.SKIP, live::get, threads);
        for (int i = 0; i < live.size(); i++) {
            live.get(i).asFloatBuffer().put(0, second.get(i));
        }
        UpdateResult r1 = one.update(live::get);
        UpdateResult r2 = many.update(live::get);
        UpdateResult r3 = shared.update(fetchedConcurrently(live, java.util.concurrent.ConcurrentHashMap.newKeySet()));
        assertThat(r2).isEqualTo(r1);
        assertThat(r3).isEqualTo(r1);
        for (int i = 0; i < specs.size(); i++) {
            assertThat(shared.shadowValues(i)).containsExactly(many.shadowValues(i));
            if (r1.applied()) {
                assertThat(many.shadowValues(i)).containsExactly(one.shadowValues(i));
            } else {
                // both reverted the update: each is the value before it, up to the rounding of the averaged value
                double[] reverted = many.shadowValues(i);
                for (int k = 0; k < reverted.length; k++) {
                    float before = first.get(i)[k];
                    float scale = Math.max(Math.abs(before), Math.abs(second.get(i)[k]));
                    double tolerance = Float.isNaN(scale) ? 2.0 * Math.ulp(before) : 2.0 * Math.ulp(scale) / 0.9;
                    assertThat(reverted[k]).isCloseTo(before, org.assertj.core.api.Assertions.within(tolerance));
                }
            }
        }
    }

    @org.junit.jupiter.api.Test
    void aSkippedUpdateRevertsTheSameElementsWhateverTheThreadsTiming() {
        // The reverted values are exact for most elements, not all; which elements were averaged and reverted must
        // depend on the weights only, so that a run gives the same bits every time.
        Random random = new Random(5);
        List<TensorSpec> specs = new ArrayList<>();
        List<ByteBuffer> live = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            int size = 30_000 + i;
            specs.add(new TensorSpec("p" + i, new long[] {size}, WeightFormat.FLOAT32));
            float[] values = new float[size];
            for (int k = 0; k < size; k++) {
                values[k] = (float) random.nextGaussian();
            }
            live.add(direct(values));
        }
        float[][] next = new float[8][];
        for (int i = 0; i < 8; i++) {
            next[i] = new float[30_000 + i];
            for (int k = 0; k < next[i].length; k++) {
                next[i][k] = (float) (random.nextGaussian() * 7);
            }
        }
        next[1][123] = Float.NaN;   // early in the first thread's share: the others have all theirs to do
        List<String> results = new ArrayList<>();
        for (int run = 0; run < 20; run++) {
            List<ByteBuffer> start = new ArrayList<>();
            for (ByteBuffer b : live) {
                start.add(b.duplicate().order(ByteOrder.nativeOrder()));
            }
            EmaState ema = EmaState.start(DecaySchedule.constant(0.9), specs, NonFinitePolicy.SKIP, start::get, 4);
            List<ByteBuffer> stepped = new ArrayList<>();
            for (float[] values : next) {
                stepped.add(direct(values));
            }
            assertThat(ema.update(stepped::get).applied()).isFalse();
            StringBuilder bits = new StringBuilder();
            for (int i = 0; i < 8; i++) {
                bits.append(java.util.Arrays.hashCode(ema.shadowValues(i))).append(' ');
            }
            results.add(bits.toString());
        }
        assertThat(results).containsOnly(results.get(0));
    }

    private static List<TensorSpec> specs(int count, int size) {
        List<TensorSpec> specs = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            specs.add(new TensorSpec("p" + i, new long[] {size}, WeightFormat.FLOAT32));
        }
        return specs;
    }

    @org.junit.jupiter.api.Test
    void theThreadsOfAnUpdateFetchTheirShareOfTheBuffers() {
        List<TensorSpec> specs = specs(12, 50_000);
        List<ByteBuffer> live = new ArrayList<>();
        Random random = new Random(3);
        for (int i = 0; i < specs.size(); i++) {
            float[] values = new float[50_000];
            for (int k = 0; k < values.length; k++) {
                values[k] = (float) random.nextGaussian();
            }
            live.add(direct(values));
        }
        EmaState ema = EmaState.start(DecaySchedule.constant(0.9), specs, NonFinitePolicy.FAIL, live::get, 3);
        java.util.Set<Thread> fetchedBy = java.util.concurrent.ConcurrentHashMap.newKeySet();
        assertThat(ema.update(fetchedConcurrently(live, fetchedBy)).applied()).isTrue();
        assertThat(fetchedBy).hasSize(3).contains(Thread.currentThread());

        java.util.Set<Thread> serial = java.util.concurrent.ConcurrentHashMap.newKeySet();
        ema.update(i -> {
            serial.add(Thread.currentThread());
            return live.get(i);
        });
        assertThat(serial).containsExactly(Thread.currentThread());
    }

    /** Direct buffers for the float32 tensors, every value of tensor i equal to i. */
    private static List<ByteBuffer> filledWithTheirIndex(List<TensorSpec> specs) {
        List<ByteBuffer> live = new ArrayList<>();
        for (int i = 0; i < specs.size(); i++) {
            float[] values = new float[specs.get(i).elementCount()];
            java.util.Arrays.fill(values, i);
            live.add(direct(values));
        }
        return live;
    }

    @org.junit.jupiter.api.Test
    void aFetchThatFailsOnAnyThreadLeavesTheEmaAsItWasAndReportsTheLowestTensor() {
        List<TensorSpec> specs = specs(9, 20_000);
        List<ByteBuffer> live = filledWithTheirIndex(specs);
        EmaState ema = EmaState.start(DecaySchedule.constant(0.5), specs, NonFinitePolicy.FAIL, live::get, 3);
        List<double[]> before = new ArrayList<>();
        for (int i = 0; i < specs.size(); i++) {
            before.add(ema.shadowValues(i));
            live.get(i).asFloatBuffer().put(0, 100f);  // an update would move every shadow
        }
        // tensors 4 and 5 (in the shares of the two pool threads) fail; 4 is reported, as one thread would
        List<ByteBuffer> broken = new ArrayList<>(live);
        broken.set(4, ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder()));
        broken.set(5, null);
        org.assertj.core.api.Assertions.assertThatThrownBy(
                () -> ema.update(fetchedConcurrently(broken, java.util.concurrent.ConcurrentHashMap.newKeySet())))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("live buffer of p4 must be 80000 bytes, was 8 bytes");
        assertThat(ema.updates()).isZero();
        for (int i = 0; i < specs.size(); i++) {
            assertThat(ema.shadowValues(i)).containsExactly(before.get(i));
        }
        assertThat(ema.update(fetchedConcurrently(live, java.util.concurrent.ConcurrentHashMap.newKeySet()))
                .applied()).isTrue();
        assertThat(ema.shadowValues(0)[0]).isEqualTo(50.0);
    }

    @org.junit.jupiter.api.Test
    void aSerialFetchThatFailsLeavesTheEmaAsItWasThoughThePoolThreadsHadStarted() {
        List<TensorSpec> specs = specs(9, 20_000);
        List<ByteBuffer> live = filledWithTheirIndex(specs);
        EmaState ema = EmaState.start(DecaySchedule.constant(0.5), specs, NonFinitePolicy.FAIL, live::get, 3);
        for (ByteBuffer b : live) {
            b.asFloatBuffer().put(0, 100f);  // an update would move every shadow
        }
        List<double[]> before = new ArrayList<>();
        for (int i = 0; i < specs.size(); i++) {
            before.add(ema.shadowValues(i));
        }
        // the pool threads wait for the calling thread's fetch; the last tensor's fails after they were started
        IllegalStateException closed = new IllegalStateException("tensor p8 was closed");
        java.util.Set<Thread> fetchedBy = java.util.concurrent.ConcurrentHashMap.newKeySet();
        LiveWeights failing = i -> {
            fetchedBy.add(Thread.currentThread());
            if (i == 8) {
                throw closed;
            }
            return live.get(i);
        };
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> ema.update(failing)).isSameAs(closed);
        assertThat(fetchedBy).containsExactly(Thread.currentThread());
        assertThat(ema.updates()).isZero();
        for (int i = 0; i < specs.size(); i++) {
            assertThat(ema.shadowValues(i)).containsExactly(before.get(i));
        }
        assertThat(ema.update(live::get).applied()).isTrue();
        assertThat(ema.shadowValues(8)[0]).isEqualTo(54.0);
    }
}
