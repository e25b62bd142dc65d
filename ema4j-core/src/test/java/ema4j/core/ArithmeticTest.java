package ema4j.core;

import static org.assertj.core.api.Assertions.assertThat;

import ema4j.core.schedule.DecaySchedule;
import ema4j.core.schedule.Preset;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The two arithmetics of an update, and {@link Arithmetic#MUL_ADD} against PyTorch itself. */
class ArithmeticTest {
    private static final int N = 10_007;
    private static final int STEPS = 12;

    /** Random values in little-endian buffers: float32 ({@code wide} false) or float64. */
    private static ByteBuffer random(Random random, int count, boolean wide, double scale) {
        ByteBuffer b = ByteBuffer.allocateDirect(count * (wide ? 8 : 4)).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < count; i++) {
            double v = random.nextGaussian() * scale;
            if (wide) {
                b.putDouble(8 * i, v);
            } else {
                b.putFloat(4 * i, (float) v);
            }
        }
        return b;
    }

    private static void write(Path file, ByteBuffer values) throws IOException {
        byte[] bytes = new byte[values.capacity()];
        values.duplicate().position(0).get(bytes);
        Files.write(file, bytes);
    }

    /** Runs {@link Arithmetic#MUL_ADD} over the steps on two threads; returns the shadow, little-endian. */
    private static ByteBuffer emaOf(ByteBuffer start, ByteBuffer weights, boolean wide, DecaySchedule schedule) {
        int width = wide ? 8 : 4;
        List<TensorSpec> spec = List.of(new TensorSpec("w", new long[] {N}, wide ? WeightFormat.FLOAT64
                : WeightFormat.FLOAT32));
        ByteBuffer live = ByteBuffer.allocateDirect(N * width).order(ByteOrder.LITTLE_ENDIAN);
        live.put(0, start, 0, N * width);
        try (EmaState ema = EmaState.builder(schedule).arithmetic(Arithmetic.MUL_ADD)
                .threads(Math.min(2, Runtime.getRuntime().availableProcessors())).start(spec, i -> live)) {
            for (int step = 0; step < STEPS; step++) {
                live.put(0, weights, step * N * width, N * width);
                ema.update(i -> live);
            }
            ByteBuffer out = ByteBuffer.allocate(N * width).order(ByteOrder.LITTLE_ENDIAN);
            ema.writeShadow("w", out);
            return out;
        }
    }

    @Test
    void mulAddIsTheProductRoundedThenAFusedAdd() {
        Random random = new Random(1);
        ByteBuffer start = random(random, N, false, 1);
        ByteBuffer weights = random(random, STEPS * N, false, 3);
        DecaySchedule schedule = DecaySchedule.constant(0.9);
        ByteBuffer ema = emaOf(start, weights, false, schedule);
        float d = 0.9f;
        float a = (float) (1 - 0.9);
        for (int i = 0; i < N; i += 997) {
            float e = start.getFloat(4 * i);
            for (int step = 0; step < STEPS; step++) {
                e = Math.fma(a, weights.getFloat(4 * (step * N + i)), e * d);
            }
            assertThat(ema.getFloat(4 * i)).isEqualTo(e);
        }
    }

    @Test
    void mulAddReproducesPyTorchsMulThenAddBitForBit(@TempDir Path dir) throws Exception {
        Path python = Path.of("/usr/bin/python3");
        boolean ci = "true".equals(System.getenv("CI"));
        boolean torch = Files.isExecutable(python) && new ProcessBuilder(python.toString(), "-c", "import torch")
                .start().waitFor() == 0;
        assertThat(torch || !ci).as("python3-torch is required in CI (apt-get install python3-torch)").isTrue();
        Assumptions.assumeTrue(torch, "skipped: /usr/bin/python3 has no torch (apt-get install python3-torch)");

        DecaySchedule schedule = Preset.SHORT.schedule();   // copies, then the warmup's rising decays
        ByteBuffer decays = ByteBuffer.allocate(8 * STEPS).order(ByteOrder.LITTLE_ENDIAN);
        for (int step = 0; step < STEPS; step++) {
            decays.putDouble(8 * step, schedule.decayAt(step));
        }
        write(dir.resolve("decays.bin"), decays);
        Random random = new Random(2);
        ByteBuffer[] starts = new ByteBuffer[2];
        ByteBuffer[] weights = new ByteBuffer[2];
        for (int k = 0; k < 2; k++) {
            boolean wide = k == 1;
            starts[k] = random(random, N, wide, 1);
            weights[k] = random(random, STEPS * N, wide, 3);
            write(dir.resolve("e" + (wide ? 64 : 32) + ".bin"), starts[k]);
            write(dir.resolve("w" + (wide ? 64 : 32) + ".bin"), weights[k]);
        }
        Path script = dir.resolve("torch_mul_add.py");
        try (InputStream in = ArithmeticTest.class.getResourceAsStream("torch_mul_add.py")) {
            Files.copy(in, script);
        }
        Process process = new ProcessBuilder(python.toString(), script.toString(), dir.toString(),
                Integer.toString(N), Integer.toString(STEPS)).redirectErrorStream(true).start();
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).isTrue();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.exitValue()).as(output).isZero();

        for (int k = 0; k < 2; k++) {
            boolean wide = k == 1;
            byte[] pytorch = Files.readAllBytes(dir.resolve("out" + (wide ? 64 : 32) + ".bin"));
            byte[] ours = new byte[pytorch.length];
            emaOf(starts[k], weights[k], wide, schedule).get(0, ours);
            assertThat(ours).as(wide ? "float64" : "float32").isEqualTo(pytorch);
        }
    }
}
