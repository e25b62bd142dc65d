package ema4j.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ema4j.core.schedule.DecaySchedule;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.FloatRange;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class EmaStateTest {

    /** One float32 tensor of live weights backed by a native-order buffer the test can change. */
    private static final class Live implements LiveWeights {
        final List<ByteBuffer> buffers = new ArrayList<>();

        Live(float[]... tensors) {
            for (float[] t : tensors) {
                ByteBuffer b = ByteBuffer.allocateDirect(4 * t.length).order(ByteOrder.nativeOrder());
                b.asFloatBuffer().put(t);
                buffers.add(b);
            }
        }

        void set(int tensor, float[] values) {
            buffers.get(tensor).asFloatBuffer().put(0, values);
        }

        float[] get(int tensor) {
            float[] out = new float[buffers.get(tensor).capacity() / 4];
            buffers.get(tensor).asFloatBuffer().get(0, out);
            return out;
        }

        @Override
        public ByteBuffer buffer(int index) {
            return buffers.get(index);
        }
    }

    private static List<TensorSpec> specs(int... sizes) {
        List<TensorSpec> specs = new ArrayList<>();
        for (int i = 0; i < sizes.length; i++) {
            specs.add(new TensorSpec("t" + i, new long[] {sizes[i]}, WeightFormat.FLOAT32));
        }
        return specs;
    }

    /** Tensor {@code i}'s shadow, widened to double. */
    static double[] values(EmaState s, int i) {
        return s.shadowValues(s.tensors().get(i).name());
    }

    private static float[] shadow(EmaState s, int i) {
        double[] d = values(s, i);
        float[] f = new float[d.length];
        for (int k = 0; k < d.length; k++) {
            f[k] = (float) d[k];
        }
        return f;
    }

    @Provide
    Arbitrary<List<float[]>> weightSequences() {
        return Arbitraries.floats().between(-100, 100).array(float[].class).ofSize(7)
                .list().ofMinSize(2).ofMaxSize(40);
    }

    @Property(tries = 200)
    void powerOneAveragesEverythingAfterTheFirstUpdate(@ForAll("weightSequences") List<float[]> seen) {
        DecaySchedule s = DecaySchedule.warmup().power(1).invGamma(1).maxDecay(1).build();
        Live live = new Live(seen.get(0));
        EmaState ema = EmaState.builder(s).start(specs(7), live);
        for (float[] w : seen) {
            live.set(0, w);
            ema.update(live);
        }
        double[] expected = new double[7];
        for (float[] w : seen.subList(1, seen.size())) {
            for (int i = 0; i < 7; i++) {
                expected[i] += w[i] / (double) (seen.size() - 1);
            }
        }
        double[] actual = values(ema, 0);
        for (int i = 0; i < 7; i++) {
            assertThat(actual[i]).isCloseTo(expected[i], within(1e-4 * (1 + Math.abs(expected[i]))));
        }
    }

    @Property(tries = 300)
    void constantWeightsStayExactlyConstant(@ForAll @FloatRange(min = -1e6f, max = 1e6f) float c,
            @ForAll @DoubleRange(min = 0, max = 1) double decay, @ForAll @IntRange(min = 1, max = 60) int steps) {
        for (DecaySchedule s : List.of(DecaySchedule.constant(decay), DecaySchedule.warmup().build(),
                DecaySchedule.ramp(decay))) {
            Live live = new Live(new float[] {c, c, c});
            EmaState ema = EmaState.builder(s).start(specs(3), live);
            for (int k = 0; k < steps; k++) {
                ema.update(live);
            }
            assertThat(shadow(ema, 0)).containsOnly(c);
        }
    }

    @Test
    void decayZeroCopiesAndDecayOneFreezes() {
        Live live = new Live(new float[] {1, 2, 3});
        EmaState copy = EmaState.builder(DecaySchedule.constant(0)).start(specs(3), live);
        EmaState frozen = EmaState.builder(DecaySchedule.constant(1)).start(specs(3), live);
        live.set(0, new float[] {0.1f, -7.25f, 1e-30f});
        copy.update(live);
        frozen.update(live);
        assertThat(shadow(copy, 0)).containsExactly(0.1f, -7.25f, 1e-30f);
        assertThat(shadow(frozen, 0)).containsExactly(1, 2, 3);
    }

    @Test
    void aTinyDecayCopiesFloat32WeightsButAveragesFloat64Ones() {
        // 1 - 1e-9 rounds to 1 in float32, not in float64: a float32 shadow copies, a float64 shadow averages
        ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.nativeOrder()).putDouble(0, 1.0);
        List<TensorSpec> spec = List.of(new TensorSpec("d", new long[] {1}, WeightFormat.FLOAT64));
        EmaState wide = EmaState.builder(DecaySchedule.constant(1e-9)).start(spec, i -> b);
        b.putDouble(0, 0.0);
        wide.update(i -> b);
        assertThat(values(wide, 0)[0]).isEqualTo(Math.fma(1 - 1e-9, -1.0, 1.0)).isNotZero();
        Live live = new Live(new float[] {1});
        EmaState narrow = EmaState.builder(DecaySchedule.constant(1e-9)).start(specs(1), live);
        live.set(0, new float[] {1e-8f});
        narrow.update(live);
        // a copy, exactly: fma(1, w - e, e) would round w - e first and give 0
        assertThat(shadow(narrow, 0)).containsExactly(1e-8f);
    }

    @Test
    void oneUpdateMatchesTheFormulaInDoublePrecision() {
        Live live = new Live(new float[] {1, 2});
        EmaState ema = EmaState.builder(DecaySchedule.constant(0.9)).start(specs(2), live);
        live.set(0, new float[] {3, -2});
        ema.update(live);
        assertThat(values(ema, 0)[0]).isCloseTo(0.9 * 1 + 0.1 * 3, within(1e-6));
        assertThat(values(ema, 0)[1]).isCloseTo(0.9 * 2 + 0.1 * -2, within(1e-6));
        assertThat(ema.updates()).isEqualTo(1);
        assertThat(ema.clock().lastDecay()).isEqualTo(0.9);
        assertThat(ema.clock().horizon()).isCloseTo(10, within(1e-9));
    }

    @Test
    void aCompoundedUpdateStandsForSeveralSteps() {
        Live live = new Live(new float[] {0});
        EmaState ema = EmaState.builder(DecaySchedule.constant(0.5)).start(specs(1), live);
        live.set(0, new float[] {8});
        UpdateResult r = ema.update(live, 3);
        assertThat(r.decay()).isEqualTo(0.125);
        assertThat(ema.updates()).isEqualTo(3);
        assertThat(shadow(ema, 0)).containsExactly(7f); // 0.125 * 0 + 0.875 * 8
    }

    @Test
    void aNaNLeavesTheEmaAsItWasAndNamesTheParameterAndTheUpdate() {
        float[] first = new float[5000];
        float[] second = new float[5000];
        for (int i = 0; i < first.length; i++) {
            first[i] = (float) Math.sin(i);
            second[i] = (float) Math.cos(i);
        }
        Live live = new Live(first, second, first);
        EmaState ema = EmaState.builder(DecaySchedule.constant(0.999)).start(specs(5000, 5000, 5000), live);
        live.set(0, second);
        ema.update(live);
        float[][] before = {shadow(ema, 0), shadow(ema, 1), shadow(ema, 2)};
        float[] poisoned = first.clone();
        poisoned[4321] = Float.NaN;   // in the second tensor: the elements before it are averaged first, then reverted
        live.set(0, first);
        live.set(1, poisoned);
        assertThatThrownBy(() -> ema.update(live))
                .isInstanceOf(NonFiniteWeightsException.class)
                .hasMessageStartingWith("weight t1[4321] is not finite at EMA update 2;");
        assertThat(ema.updates()).isEqualTo(1);
        assertThat(shadow(ema, 2)).as("not reached").containsExactly(before[2]);
        assertThat(Arrays.copyOfRange(shadow(ema, 1), 4321, 5000)).as("not reached")
                .containsExactly(Arrays.copyOfRange(before[1], 4321, 5000));
        float[][] seen = {first, poisoned};
        int exact = 0;
        for (int t = 0; t < 2; t++) {
            float[] after = shadow(ema, t);
            for (int i = 0; i < (t == 0 ? 5000 : 4321); i++) {
                assertWithinOneUpdate(before[t][i], seen[t][i], after[i], 0.999);
                exact += after[i] == before[t][i] ? 1 : 0;
            }
        }
        // about a share "decay" of them exactly
        assertThat(exact).isGreaterThan(9_000);
    }

    /** The contract of {@link NonFinitePolicy} for one element of a float32 shadow set back after a refusal. */
    static void assertWithinOneUpdate(float before, float w, float after, double decay) {
        if (after != before) {
            float a = (float) (1 - decay);
            float averaged = Math.fma(a, w - before, before);
            double bound = (double) Math.ulp(averaged) + Math.ulp(w - before) + Math.ulp(before);
            assertThat(Math.abs((double) after - before)).as("%s set back from %s after w=%s", before, after, w)
                    .isLessThanOrEqualTo(bound);
        }
    }

    @Property(tries = 300)
    void aRefusedUpdateSetsBackFloat64ShadowsWithinOneUpdatesRounding(@ForAll @IntRange(min = 1, max = 3000) int size,
            @ForAll @IntRange(min = 0, max = 2999) int nanAt, @ForAll @DoubleRange(min = 0.5, max = 1) double decay,
            @ForAll long seed) {
        java.util.Random random = new java.util.Random(seed);
        double[] first = new double[size];
        double[] second = new double[size];
        for (int i = 0; i < size; i++) {
            first[i] = random.nextGaussian() * Math.pow(10, random.nextInt(7) - 3);
            second[i] = random.nextBoolean() ? first[i] * (1 + random.nextGaussian() * 0.01) : random.nextGaussian();
        }
        second[nanAt % size] = Double.POSITIVE_INFINITY;
        ByteBuffer b = ByteBuffer.allocate(8 * size).order(ByteOrder.nativeOrder());
        b.asDoubleBuffer().put(first);
        List<TensorSpec> spec = List.of(new TensorSpec("d", new long[] {size}, WeightFormat.FLOAT64));
        EmaState ema = EmaState.builder(DecaySchedule.constant(decay)).nonFinite(NonFinitePolicy.SKIP)
                .start(spec, i -> b);
        b.asDoubleBuffer().put(0, second);
        assertThat(ema.update(i -> b).applied()).isFalse();
        double[] after = values(ema, 0);
        double a = 1 - decay;
        for (int i = 0; i < size; i++) {
            if (i >= nanAt % size) {
                assertThat(after[i]).isEqualTo(first[i]);
                continue;
            }
            double averaged = Math.fma(a, second[i] - first[i], first[i]);
            double bound = Math.ulp(averaged) + Math.ulp(second[i] - first[i]) + Math.ulp(first[i]);
            assertThat(Math.abs(after[i] - first[i])).as("element %d", i).isLessThanOrEqualTo(bound);
        }
    }

    @Test
    void aRefusedMulAddUpdateKeepsTheSameContract() {
        float[] first = new float[3000];
        float[] second = new float[3000];
        java.util.Random random = new java.util.Random(4);
        for (int i = 0; i < first.length; i++) {
            first[i] = (float) random.nextGaussian();
            second[i] = first[i] + (float) random.nextGaussian() * 0.1f;
        }
        second[2500] = Float.NaN;
        Live live = new Live(first);
        EmaState ema = EmaState.builder(DecaySchedule.constant(0.7)).arithmetic(Arithmetic.MUL_ADD)
                .nonFinite(NonFinitePolicy.SKIP).start(specs(3000), live);
        live.set(0, second);
        assertThat(ema.update(live).applied()).isFalse();
        float[] after = shadow(ema, 0);
        for (int i = 0; i < first.length; i++) {
            if (after[i] != first[i]) {
                float averaged = Math.fma(0.3f, second[i], first[i] * 0.7f);
                double bound = (double) Math.ulp(averaged) + Math.ulp(second[i] - first[i]) + Math.ulp(first[i]);
                assertThat(Math.abs((double) after[i] - first[i])).as("element %d", i).isLessThanOrEqualTo(bound);
            }
        }
    }

    @Test
    void anUpdateWithADecayBelowOneHalfChecksEverythingBeforeWriting() {
        Live live = new Live(new float[] {1, 2, 3}, new float[] {4});
        EmaState ema = EmaState.builder(DecaySchedule.constant(0.3)).nonFinite(NonFinitePolicy.SKIP)
                .start(specs(3, 1), live);
        live.set(0, new float[] {5, 7, 11});
        live.set(1, new float[] {Float.NaN});
        assertThat(ema.update(live).applied()).isFalse();
        assertThat(shadow(ema, 0)).containsExactly(1, 2, 3);
        assertThat(shadow(ema, 1)).containsExactly(4);
    }

    @Test
    void skippingCountsTheSkippedUpdateAndGoesOn() {
        Live live = new Live(new float[] {1, 2});
        EmaState ema = EmaState.builder(DecaySchedule.constant(0.5)).nonFinite(NonFinitePolicy.SKIP)
                .start(specs(2), live);
        live.set(0, new float[] {Float.POSITIVE_INFINITY, 2});
        UpdateResult skipped = ema.update(live);
        assertThat(skipped.applied()).isFalse();
        assertThat(skipped.nonFiniteParameter()).isEqualTo("t0");
        assertThat(skipped.nonFiniteElement()).isZero();
        assertThat(ema.skippedUpdates()).isEqualTo(1);
        live.set(0, new float[] {3, 4});
        assertThat(ema.update(live).applied()).isTrue();
        assertThat(shadow(ema, 0)).containsExactly(2, 3);
    }

    @Test
    void aCopyingUpdateChecksEverythingBeforeWriting() {
        Live live = new Live(new float[] {1}, new float[] {2});
        EmaState ema = EmaState.builder(DecaySchedule.warmup().build()).nonFinite(NonFinitePolicy.SKIP)
                .start(specs(1, 1), live);
        live.set(0, new float[] {5});
        live.set(1, new float[] {Float.NaN});
        assertThat(ema.update(live).applied()).isFalse();
        assertThat(shadow(ema, 0)).containsExactly(1);
    }

    @Test
    void exchangingTwiceRestoresBothSidesBitExactly() {
        Live live = new Live(new float[] {1.5f, -0f, Float.MIN_VALUE});
        EmaState ema = EmaState.builder(DecaySchedule.constant(0.5)).start(specs(3), live);
        live.set(0, new float[] {3.25f, 7, 0.1f});
        ema.update(live);
        float[] averaged = shadow(ema, 0);
        float[] liveBefore = live.get(0);
        ema.exchange(live);
        assertThat(ema.swapped()).isTrue();
        assertThat(live.get(0)).containsExactly(averaged);
        assertThatThrownBy(() -> ema.update(live)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("close the swap");
        ema.exchange(live);
        assertThat(live.get(0)).containsExactly(liveBefore);
        assertThat(shadow(ema, 0)).containsExactly(averaged);
    }

    @Test
    void driftIsTheRelativeDistanceBetweenEmaAndLiveWeights() {
        Live live = new Live(new float[] {3, 4});
        EmaState ema = EmaState.builder(DecaySchedule.constant(1)).start(specs(2), live);
        assertThat(ema.drift(live)).isZero();
        live.set(0, new float[] {0, 0});
        ema.update(live);
        live.set(0, new float[] {6, 8});
        assertThat(ema.drift(live)).isCloseTo(0.5, within(1e-12));
    }

    @Test
    void float64WeightsGetAFloat64Shadow() {
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.nativeOrder());
        b.asDoubleBuffer().put(new double[] {1.0 / 3, 2});
        List<TensorSpec> spec = List.of(new TensorSpec("d", new long[] {2}, WeightFormat.FLOAT64));
        EmaState ema = EmaState.builder(DecaySchedule.constant(0.5)).start(spec, i -> b);
        assertThat(values(ema, 0)[0]).isEqualTo(1.0 / 3);
        assertThat(ema.shadowBytes()).isEqualTo(16);
    }

    @Test
    void bfloat16WeightsAreAveragedInFloat32AndSwapBackExactly() {
        ByteBuffer b = ByteBuffer.allocate(4).order(ByteOrder.nativeOrder());
        b.asShortBuffer().put(new short[] {HalfPrecision.floatToBfloat16(1f), HalfPrecision.floatToBfloat16(2f)});
        List<TensorSpec> spec = List.of(new TensorSpec("h", new long[] {2}, WeightFormat.BFLOAT16));
        EmaState ema = EmaState.builder(DecaySchedule.constant(0.999)).start(spec, i -> b);
        b.asShortBuffer().put(0, HalfPrecision.floatToBfloat16(2f));
        ema.update(i -> b);
        // 1 + 0.001 is below bfloat16's resolution at 1 but not float32's: the shadow keeps the small step
        assertThat(values(ema, 0)[0]).isCloseTo(1.001, within(1e-6));
        short before = b.asShortBuffer().get(0);
        ema.exchange(i -> b);
        ema.exchange(i -> b);
        assertThat(b.asShortBuffer().get(0)).isEqualTo(before);
    }

    @Test
    void badInputIsRejectedWithItsName() {
        Live live = new Live(new float[] {1});
        assertThatThrownBy(() -> EmaState.builder(DecaySchedule.constant(0)).start(specs(2), live))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("live buffer of t0 must be 8 bytes, was 4 bytes");
        List<TensorSpec> twice = List.of(specs(1).get(0), specs(1).get(0));
        assertThatThrownBy(() -> EmaState.builder(DecaySchedule.constant(0)).start(twice, live))
                .hasMessage("tensor names must be unique, was t0 twice");
        EmaState ema = EmaState.builder(DecaySchedule.constant(0)).start(specs(1), live);
        assertThatThrownBy(() -> ema.update(live, 0)).hasMessage("steps must be >= 1, was 0");
    }

    @Test
    void aSnapshotRestoresTheEmaBitForBitFor16BitWeightsToo() {
        List<TensorSpec> specs = List.of(new TensorSpec("half", new long[] {300}, WeightFormat.FLOAT16),
                new TensorSpec("brain", new long[] {257}, WeightFormat.BFLOAT16),
                new TensorSpec("single", new long[] {5}, WeightFormat.FLOAT32),
                new TensorSpec("double", new long[] {3}, WeightFormat.FLOAT64));
        java.util.Random random = new java.util.Random(3);
        List<ByteBuffer> live = new ArrayList<>();
        for (TensorSpec spec : specs) {
            live.add(ByteBuffer.allocateDirect(spec.elementCount() * spec.format().bytesPerElement())
                    .order(ByteOrder.nativeOrder()));
        }
        Runnable step = () -> {
            for (int i = 0; i < specs.size(); i++) {
                ByteBuffer b = live.get(i);
                for (int k = 0; k < specs.get(i).elementCount(); k++) {
                    float v = (float) random.nextGaussian();
                    switch (specs.get(i).format()) {
                        case FLOAT16 -> b.putShort(2 * k, HalfPrecision.floatToHalf(v));
                        case BFLOAT16 -> b.putShort(2 * k, HalfPrecision.floatToBfloat16(v));
                        case FLOAT32 -> b.putFloat(4 * k, v);
                        case FLOAT64 -> b.putDouble(8 * k, v);
                    }
                }
            }
        };
        step.run();
        DecaySchedule schedule = DecaySchedule.constant(0.99);
        EmaState whole = EmaState.builder(schedule).nonFinite(NonFinitePolicy.SKIP).start(specs, live::get);
        for (int n = 0; n < 5; n++) {
            step.run();
            whole.update(live::get);
        }
        EmaSnapshot snapshot = whole.snapshot();
        assertThat(snapshot.updates()).isEqualTo(5);
        assertThat(snapshot.shadows()).extracting(EmaSnapshot.SavedShadow::name)
                .containsExactly("half", "brain", "single", "double");
        assertThat(snapshot.shadow("half").remaining()).as("float32, not the live float16").isEqualTo(1200);
        assertThat(snapshot.shadows().get(0).tensor().format()).isEqualTo(WeightFormat.FLOAT32);
        assertThat(snapshot.shadow("double").remaining()).isEqualTo(24);
        EmaState resumed = EmaState.builder(schedule).nonFinite(NonFinitePolicy.SKIP).restore(specs, snapshot);
        for (int n = 0; n < 5; n++) {
            step.run();
            whole.update(live::get);
            resumed.update(live::get);
        }
        for (int i = 0; i < specs.size(); i++) {
            assertThat(values(resumed, i)).as(specs.get(i).name()).containsExactly(values(whole, i));
        }
        assertThat(resumed.updates()).isEqualTo(10);
    }

    @Test
    void aSnapshotThatDoesNotFitIsRefusedNamingEveryDifference() {
        Live live = new Live(new float[] {1, 2}, new float[] {3});
        EmaState ema = EmaState.builder(DecaySchedule.constant(0.5)).start(specs(2, 1), live);
        EmaSnapshot saved = ema.snapshot();
        assertThatThrownBy(() -> EmaState.builder(DecaySchedule.constant(0.9)).restore(specs(2, 1), saved))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("schedule must be the snapshot's Constant[decay=0.5] (resume from"
                        + " snapshot.withSchedule(schedule) to change it on purpose), was Constant[decay=0.9]");
        EmaState rescheduled = EmaState.builder(DecaySchedule.constant(0.9))
                .restore(specs(2, 1), saved.withSchedule(DecaySchedule.constant(0.9)));
        assertThat(rescheduled.clock().nextDecay()).isEqualTo(0.9);
        List<TensorSpec> other = List.of(new TensorSpec("t0", new long[] {3}, WeightFormat.FLOAT32),
                new TensorSpec("t9", new long[] {1}, WeightFormat.FLOAT32));
        assertThatThrownBy(() -> EmaState.builder(DecaySchedule.constant(0.5)).restore(other, saved))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("the snapshot's shadows must be those of the EMA's 2 averaged tensors, was 3 differ:"
                        + " saved t0 (2) float32, now t0 (3) float32; missing t9 (1) float32; unexpected t1 (1) float32");
    }
}
