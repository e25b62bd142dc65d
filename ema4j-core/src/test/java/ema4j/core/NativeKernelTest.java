package ema4j.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The compiled kernel against the reference scalar kernel, bit for bit. The build compiles it on Linux x86-64 with
 * gcc; where it did not, these tests are skipped and say so, except in CI ({@code CI=true}), which must build it.
 */
class NativeKernelTest {

    private static void requireKernel() {
        boolean built = NativeKernel.class.getClassLoader()
                .getResource(NativeKernel.platformFolder() + "/libema4j_kernel.so") != null;
        if (built || "true".equals(System.getenv("CI"))) {
            assertThat(NativeKernel.AVAILABLE).as(NativeKernel.status()).isTrue();
        }
        Assumptions.assumeTrue(NativeKernel.AVAILABLE, "skipped: " + NativeKernel.status()
                + "; the build compiles the kernel on Linux x86-64 where /usr/bin/gcc is");
    }

    private static float[] gaussians(Random random, int size, double scale) {
        float[] values = new float[size];
        for (int i = 0; i < size; i++) {
            values[i] = (float) (random.nextGaussian() * scale);
        }
        return values;
    }

    @Property(tries = 300)
    void theNativeKernelGivesTheBitsOfTheScalarKernel(@ForAll @IntRange(min = 0, max = 9000) int size,
            @ForAll @IntRange(min = 0, max = 9000) int from, @ForAll @IntRange(min = -1, max = 9000) int badAt,
            @ForAll @IntRange(min = -1, max = 9000) int overflowAt, @ForAll @IntRange(min = 0, max = 63) int shift,
            @ForAll @IntRange(min = 0, max = 2) int kind, @ForAll boolean small, @ForAll long seed) {
        requireKernel();
        from = Math.min(from, size);
        Random random = new Random(seed);
        float[] e = gaussians(random, size, 1);
        // small weights too, so that a block check which took a large weight for a bad one would not hide behind it
        float[] w = gaussians(random, size, small ? 0.1 : 10);
        if (overflowAt >= 0 && overflowAt < size) {
            // finite, but w - e overflows to infinity: averaged as the scalar kernel does, not reported
            w[overflowAt] = Float.MAX_VALUE;
            e[overflowAt] = -Float.MAX_VALUE;
        }
        if (badAt >= 0 && badAt < size) {
            w[badAt] = kind == 0 ? Float.NaN : kind == 1 ? Float.POSITIVE_INFINITY : Float.NEGATIVE_INFINITY;
        }
        float[] reference = e.clone();
        float a = (float) (1 - 0.999);
        int expected = FloatShadow.averageScalar(reference, FloatBuffer.wrap(w), a, from, size);
        // any alignment of the weights; the shadow's own alignment is the heap's
        int actual = NativeKernel.average(e, ParallelUpdateTest.direct(w, shift, ByteOrder.nativeOrder()), a, from, size);
        assertThat(actual).isEqualTo(expected);
        assertThat(e).containsExactly(reference);
    }

    @Test
    void theWeightsStartAtTheBuffersPosition() {
        requireKernel();
        float[] w = gaussians(new Random(1), 1000, 1);
        ByteBuffer whole = ParallelUpdateTest.direct(w, 0, ByteOrder.nativeOrder());
        float[] e = new float[990];
        float[] reference = new float[990];
        FloatShadow.averageScalar(reference, FloatBuffer.wrap(w, 10, 990).slice(), 0.25f, 0, 990);
        assertThat(NativeKernel.average(e, whole.position(40), 0.25f, 0, 990)).isEqualTo(-1);
        assertThat(e).containsExactly(reference);
    }

    @Test
    void aTensorLongerThanOneCallIsAveragedWholeAndStopsAtItsBadWeight() {
        requireKernel();
        int size = 3 * (1 << 20) + 77;   // the kernel takes 2^20 weights a call
        Random random = new Random(2);
        float[] w = gaussians(random, size, 1);
        float[] e = gaussians(random, size, 1);
        w[(1 << 21) + 5] = Float.NaN;   // in the third call
        float[] reference = e.clone();
        int expected = FloatShadow.averageScalar(reference, FloatBuffer.wrap(w), 0.5f, 0, size);
        assertThat(NativeKernel.average(e, ParallelUpdateTest.direct(w, 0, ByteOrder.nativeOrder()), 0.5f, 0, size))
                .isEqualTo(expected).isEqualTo((1 << 21) + 5);
        // Arrays.mismatch, since AssertJ's containsExactly diffs arrays this long in quadratic time
        assertThat(java.util.Arrays.mismatch(e, reference)).as("first element that differs").isEqualTo(-1);
        assertThat(e[size - 1]).as("untouched after the bad weight").isEqualTo(reference[size - 1]);
    }

    @Test
    void aRangeOutsideTheShadowOrTheBufferIsRefusedBeforeAnyMemoryIsTouched() {
        requireKernel();
        ByteBuffer live = ParallelUpdateTest.direct(new float[100], 0, ByteOrder.nativeOrder());
        float[] e = new float[100];
        assertThatThrownBy(() -> NativeKernel.average(e, live, 0.5f, 0, 101))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> NativeKernel.average(new float[200], live, 0.5f, 50, 150))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> NativeKernel.average(e, live.duplicate().order(ByteOrder.nativeOrder()).position(8), 0.5f, 0, 100))
                .isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> NativeKernel.average(e, ByteBuffer.allocate(400), 0.5f, 0, 100))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("live must be a direct buffer in native byte order, was");
    }

    @Test
    void theStateNamesTheKernelItRuns() {
        requireKernel();
        assertThat(EmaState.kernel()).startsWith("compiled kernel (loaded ema4j/core/native/");
    }

    /** {@link UpdateProbe}'s line from a JVM of this JDK that loads {@code library} as the compiled kernel. */
    private static String probeWith(Path library) throws Exception {
        return NewerJdkTest.probe(Path.of(System.getProperty("java.home")), System.getProperty("java.class.path"),
                "-Dema4j.nativeLibrary=" + library);
    }

    @Test
    void aBuildForPlainX8664WithoutFmaGivesTheSameBits(@TempDir Path dir) throws Exception {
        // the jar's library takes the AVX2 version on this CPU; this builds the plain x86-64 one alone (fmaf from
        // libm) and runs UpdateProbe on it in another JVM, through -Dema4j.nativeLibrary
        requireKernel();
        Path gcc = Path.of("/usr/bin/gcc");
        Assumptions.assumeTrue(Files.isExecutable(gcc) && NativeKernel.platformFolder().endsWith("linux-x86_64"),
                "skipped: needs /usr/bin/gcc on Linux x86-64");
        Path library = dir.resolve("libema4j_kernel.so");
        String jdk = System.getProperty("java.home");
        Process build = new ProcessBuilder(gcc.toString(), "-O3", "-ffp-contract=off", "-fPIC", "-shared",
                "-DEMA4J_SINGLE_TARGET", "-march=x86-64", "-I" + jdk + "/include", "-I" + jdk + "/include/linux",
                "-o", library.toString(), "src/main/c/ema4j_kernel.c").redirectErrorStream(true).start();
        String built = new String(build.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(build.waitFor()).as(built).isZero();
        assertThat(probeWith(library)).isEqualTo(UpdateProbe.run());
    }

    @Test
    void aLibraryThatDoesNotLoadLeavesTheJavaKernelsWithTheReason(@TempDir Path dir) throws Exception {
        Path notALibrary = Files.writeString(dir.resolve("libema4j_kernel.so"), "not a shared object");
        String line = probeWith(notALibrary);
        assertThat(line).startsWith("native kernel false, vector kernel true");
        assertThat(UpdateProbe.bits(line)).isEqualTo(UpdateProbe.bits(UpdateProbe.run()));
    }
}
