package ema4j.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
import org.junit.jupiter.api.Test;

/**
 * The fast paths (Vector API kernel, several threads) against the reference scalar kernel on one thread, and the
 * failure contract of {@link NonFinitePolicy} with several threads.
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
        int actual = FloatShadow.averageVector(e,
                direct(w, shift, bigEndian ? ByteOrder.BIG_ENDIAN : ByteOrder.LITTLE_ENDIAN),
                a, from, size);
        assertThat(actual).isEqualTo(expected);
        assertThat(e).containsExactly(reference);
    }

    @Property(tries = 40)
    void severalThreadsGiveTheBitsOfOneThreadAndKeepTheFailureContract(
            @ForAll @Size(min = 1, max = 12) List<@IntRange(min = 0, max = 40_000) Integer> sizes,
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
                b[k] = total + k == nanAt ? Float.NaN : (float) (random.nextGaussian() * 5);
            }
            total += a.length;
            first.add(a);
            second.add(b);
        }
        List<ByteBuffer> live = new ArrayList<>();
        first.forEach(a -> live.add(direct(a)));
        DecaySchedule schedule = DecaySchedule.constant(0.9);
        EmaState one = EmaState.builder(schedule).nonFinite(NonFinitePolicy.SKIP).start(specs, live::get);
        EmaState many = EmaState.builder(schedule).nonFinite(NonFinitePolicy.SKIP).threads(threads)
                .start(specs, live::get);
        for (int i = 0; i < live.size(); i++) {
            live.get(i).asFloatBuffer().put(0, second.get(i));
        }
        UpdateResult r1 = one.update(live::get);
        UpdateResult r2 = many.update(live::get);
        assertThat(r2).isEqualTo(r1);
        for (int i = 0; i < specs.size(); i++) {
            double[] single = EmaStateTest.values(one, i);
            double[] split = EmaStateTest.values(many, i);
            if (r1.applied()) {
                assertThat(split).containsExactly(single);
                continue;
            }
            // refused: on one thread or several, every element within the rounding of one update
            for (EmaState ema : List.of(one, many)) {
                double[] after = EmaStateTest.values(ema, i);
                for (int k = 0; k < after.length; k++) {
                    EmaStateTest.assertWithinOneUpdate(first.get(i)[k], second.get(i)[k], (float) after[k], 0.9);
                }
            }
        }
        one.close();
        many.close();
    }

    private static List<TensorSpec> specs(int count, int size) {
        List<TensorSpec> specs = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            specs.add(new TensorSpec("p" + i, new long[] {size}, WeightFormat.FLOAT32));
        }
        return specs;
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

    @Test
    void anUpdateIsSplitIntoRunsOfAtLeastTheMinimumSize() {
        List<TensorSpec> specs = specs(3, 20_000);
        List<ByteBuffer> live = filledWithTheirIndex(specs);
        try (EmaState big = EmaState.builder(DecaySchedule.constant(0.5)).threads(4).start(specs, live::get);
                EmaState small = EmaState.builder(DecaySchedule.constant(0.5)).threads(4)
                        .start(specs.subList(0, 1), live::get)) {
            assertThat(big.toString()).endsWith("threads=3}");      // 60,000 elements: three runs of 16,384 or more
            assertThat(small.toString()).endsWith("threads=1}");
        }
    }

    @Test
    void aFetchThatFailsLeavesTheEmaAsItWas() {
        List<TensorSpec> specs = specs(9, 20_000);
        List<ByteBuffer> live = filledWithTheirIndex(specs);
        EmaState ema = EmaState.builder(DecaySchedule.constant(0.5)).threads(3).start(specs, live::get);
        for (ByteBuffer b : live) {
            b.asFloatBuffer().put(0, 100f);  // an update would move every shadow
        }
        List<double[]> before = new ArrayList<>();
        for (int i = 0; i < specs.size(); i++) {
            before.add(EmaStateTest.values(ema, i));
        }
        IllegalStateException closed = new IllegalStateException("tensor p8 was closed");
        LiveWeights failing = i -> {
            if (i == 8) {
                throw closed;
            }
            return live.get(i);
        };
        assertThatThrownBy(() -> ema.update(failing)).isSameAs(closed);
        List<ByteBuffer> tooSmall = new ArrayList<>(live);
        tooSmall.set(4, ByteBuffer.allocateDirect(8).order(ByteOrder.nativeOrder()));
        assertThatThrownBy(() -> ema.update(tooSmall::get)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("live buffer of p4 must be 80000 bytes, was 8 bytes");
        assertThat(ema.updates()).isZero();
        for (int i = 0; i < specs.size(); i++) {
            assertThat(EmaStateTest.values(ema, i)).containsExactly(before.get(i));
        }
        assertThat(ema.update(live::get).applied()).isTrue();
        assertThat(EmaStateTest.values(ema, 8)[0]).isEqualTo(54.0);
    }

    @Test
    void closingStopsTheUpdateThreadsAndRefusesLaterUpdates() throws InterruptedException {
        List<TensorSpec> specs = specs(4, 20_000);
        List<ByteBuffer> live = filledWithTheirIndex(specs);
        java.util.Set<Thread> before = updateThreads();
        EmaState ema = EmaState.builder(DecaySchedule.constant(0.5)).threads(4).start(specs, live::get);
        ema.update(live::get);
        java.util.Set<Thread> workers = updateThreads();
        workers.removeAll(before);
        assertThat(workers).hasSize(3);
        ema.close();
        for (Thread worker : workers) {
            worker.join(10_000);
        }
        assertThat(workers).noneMatch(Thread::isAlive);
        assertThatThrownBy(() -> ema.update(live::get)).isInstanceOf(IllegalStateException.class)
                .hasMessage("this EMA is closed");
        assertThat(EmaStateTest.values(ema, 3)[0]).as("the shadows stay readable").isEqualTo(3.0);
    }

    private static java.util.Set<Thread> updateThreads() {
        java.util.Set<Thread> threads = new java.util.HashSet<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals("ema4j-update") && t.isAlive()) {
                threads.add(t);
            }
        }
        return threads;
    }
}
