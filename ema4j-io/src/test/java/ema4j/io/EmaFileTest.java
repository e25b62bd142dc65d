package ema4j.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ema4j.core.EmaSnapshot;
import ema4j.core.EmaState;
import ema4j.core.NonFinitePolicy;
import ema4j.core.TensorSpec;
import ema4j.core.WeightFormat;
import ema4j.core.policy.ParameterRule;
import ema4j.core.schedule.DecaySchedule;
import ema4j.io.safetensors.SafetensorsFile;
import ema4j.io.safetensors.SafetensorsFormatException;
import ema4j.io.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmaFileTest {
    @TempDir
    Path directory;

    private static final List<TensorSpec> SPECS = List.of(
            new TensorSpec("conv.weight", new long[] {4, 1, 3, 3}, WeightFormat.BFLOAT16),
            new TensorSpec("fc.weight", new long[] {3, 16}, WeightFormat.FLOAT32),
            new TensorSpec("fc.bias", new long[] {3}, WeightFormat.FLOAT64));

    /** Live weights that change with every call to {@link #next}. */
    private static final class Live {
        final List<ByteBuffer> buffers = new ArrayList<>();
        final Random random = new Random(5);

        Live() {
            for (TensorSpec spec : SPECS) {
                buffers.add(ByteBuffer.allocateDirect(spec.elementCount() * spec.format().bytesPerElement())
                        .order(ByteOrder.nativeOrder()));
            }
            next();
        }

        void next() {
            for (int i = 0; i < SPECS.size(); i++) {
                ByteBuffer b = buffers.get(i);
                for (int k = 0; k < SPECS.get(i).elementCount(); k++) {
                    double v = random.nextGaussian();
                    switch (SPECS.get(i).format()) {
                        // bfloat16 is the top half of a float32
                        case BFLOAT16 -> b.putShort(2 * k, (short) (Float.floatToIntBits((float) v) >>> 16));
                        case FLOAT32 -> b.putFloat(4 * k, (float) v);
                        default -> b.putDouble(8 * k, v);
                    }
                }
            }
        }
    }

    @Test
    void aSavedEmaResumesBitForBit() throws IOException {
        DecaySchedule schedule = DecaySchedule.warmup().power(0.75).maxDecay(0.999).build();
        Live live = new Live();
        EmaState whole = EmaState.builder(schedule).nonFinite(NonFinitePolicy.SKIP).start(SPECS, live.buffers::get);
        for (int n = 0; n < 7; n++) {
            live.next();
            whole.update(live.buffers::get);
        }
        Map<String, ParameterRule> rules = new LinkedHashMap<>(whole.snapshot().rules());
        rules.put("bn.running_mean", ParameterRule.COPY);
        EmaSnapshot saved = whole.snapshot();
        saved = new EmaSnapshot(saved.schedule(), saved.updates(), saved.skippedUpdates(), saved.shadows(), rules);
        Path file = directory.resolve("ema.safetensors");

        EmaFile.save(saved, file);
        EmaSnapshot loaded = EmaFile.load(file);

        assertThat(loaded).isEqualTo(saved);
        assertThat(loaded.rules()).containsEntry("bn.running_mean", ParameterRule.COPY);
        EmaState resumed = EmaState.builder(schedule).nonFinite(NonFinitePolicy.SKIP).restore(SPECS, loaded);
        for (int n = 0; n < 5; n++) {
            live.next();
            whole.update(live.buffers::get);
            resumed.update(live.buffers::get);
        }
        assertThat(resumed.snapshot()).isEqualTo(whole.snapshot());
        // a state dict PyTorch reads: shapes, F32 for the bfloat16 weights' shadow, F64 for float64 ones
        try (SafetensorsFile tensors = SafetensorsFile.open(file)) {
            assertThat(tensors.metadata()).containsEntry("format", "pt").containsEntry("ema4j.format", "1")
                    .containsEntry("ema4j.updates", "7");
            assertThat(tensors.find("conv.weight").orElseThrow().dtype()).isEqualTo("F32");
            assertThat(tensors.find("conv.weight").orElseThrow().shape()).containsExactly(4, 1, 3, 3);
            assertThat(tensors.find("fc.bias").orElseThrow().dtype()).isEqualTo("F64");
        }
    }

    @Test
    void pyTorchReadsTheFileAsAStateDictWithItsShapesAndValues() throws Exception {
        java.nio.file.Path python = Path.of("/usr/bin/python3");
        boolean ci = "true".equals(System.getenv("CI"));
        boolean torch = java.nio.file.Files.isExecutable(python)
                && new ProcessBuilder(python.toString(), "-c", "import torch").start().waitFor() == 0;
        assertThat(torch || !ci).as("python3-torch is required in CI (apt-get install python3-torch)").isTrue();
        org.junit.jupiter.api.Assumptions.assumeTrue(torch,
                "skipped: /usr/bin/python3 has no torch (apt-get install python3-torch)");
        Live live = new Live();
        EmaState ema = EmaState.builder(DecaySchedule.constant(0.5)).start(SPECS, live.buffers::get);
        live.next();
        ema.update(live.buffers::get);
        Path file = directory.resolve("ema.safetensors");
        EmaFile.save(ema.snapshot(), file);
        Path script = directory.resolve("torch_reads_ema_file.py");
        try (java.io.InputStream in = EmaFileTest.class.getResourceAsStream("torch_reads_ema_file.py")) {
            java.nio.file.Files.copy(in, script);
        }
        Process process = new ProcessBuilder(python.toString(), script.toString(), file.toString())
                .redirectErrorStream(true).start();
        assertThat(process.waitFor(120, java.util.concurrent.TimeUnit.SECONDS)).isTrue();
        String output = new String(process.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertThat(process.exitValue()).as(output).isZero();
        for (TensorSpec spec : SPECS) {
            double sum = 0;
            for (double v : ema.shadowValues(spec.name())) {
                sum += v;
            }
            String dtype = spec.format() == WeightFormat.FLOAT64 ? "F64" : "F32";
            String shape = java.util.Arrays.toString(spec.shape());
            assertThat(output).as(output).containsPattern("(?m)^" + java.util.regex.Pattern.quote(spec.name() + " "
                    + dtype + " " + shape + " ") + "(\\S+)$");
            String printed = output.lines().filter(l -> l.startsWith(spec.name() + " ")).findFirst().orElseThrow();
            assertThat(Double.parseDouble(printed.substring(printed.lastIndexOf(' ') + 1)))
                    .isCloseTo(sum, org.assertj.core.api.Assertions.within(1e-9 * Math.max(1, Math.abs(sum))));
        }
        assertThat(output).contains("format pt ema4j.format 1 updates 1 rules {'conv.weight': 'average',");
    }

    private Path written(SafetensorsWriter writer) throws IOException {
        Path file = directory.resolve("broken.safetensors");
        writer.write(file);
        return file;
    }

    private static SafetensorsWriter emaFile(Map<String, String> metadata) {
        Map<String, String> all = new LinkedHashMap<>(Map.of("ema4j.format", "1", "ema4j.schedule",
                "{\"kind\":\"constant\",\"decay\":0.5}", "ema4j.updates", "3", "ema4j.skippedUpdates", "0",
                "ema4j.rules", "{\"w\":\"average\"}"));
        all.putAll(metadata);
        all.values().removeIf(String::isEmpty);
        return SafetensorsWriter.create().metadata(all).tensor("w", "F32", new long[] {2},
                ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN));
    }

    @Test
    void filesThatAreNotASavedEmaAreRefusedNamingTheFileAndTheProblem() throws IOException {
        assertThat(EmaFile.load(written(emaFile(Map.of()))).updates()).isEqualTo(3);
        assertThatThrownBy(() -> EmaFile.load(written(emaFile(Map.of("ema4j.format", "")))))
                .isInstanceOf(SafetensorsFormatException.class)
                .hasMessageEndingWith("broken.safetensors: holds no EMA (no ema4j.format in its metadata);"
                        + " EmaFile.save writes one");
        assertThatThrownBy(() -> EmaFile.load(written(emaFile(Map.of("ema4j.format", "2")))))
                .hasMessageEndingWith("is an EMA file of format 2; this ema4j reads format 1");
        assertThatThrownBy(() -> EmaFile.load(written(emaFile(Map.of("ema4j.updates", "-4")))))
                .hasMessageEndingWith("ema4j.updates must be a whole number >= 0, was -4");
        assertThatThrownBy(() -> EmaFile.load(written(emaFile(Map.of("ema4j.schedule", "")))))
                .hasMessageEndingWith("lacks ema4j.schedule in its metadata");
        assertThatThrownBy(() -> EmaFile.load(written(emaFile(Map.of("ema4j.schedule", "{\"kind\":\"fast\"}")))))
                .hasMessageContaining("schedule kind must be");
        assertThatThrownBy(() -> EmaFile.load(written(emaFile(Map.of("ema4j.rules", "{\"w\":\"sometimes\"}")))))
                .hasMessageEndingWith("the rule of w must be average or copy, was 'sometimes'");
        assertThatThrownBy(() -> EmaFile.load(written(emaFile(Map.of("ema4j.rules", "{\"w\":\"copy\"}")))))
                .hasMessageEndingWith("the rule of w must be average, as it has a shadow, was COPY");
        assertThatThrownBy(() -> EmaFile.load(written(SafetensorsWriter.create().metadata(Map.of("ema4j.format",
                "1")).tensor("w", "F16", new long[] {2}, ByteBuffer.allocate(4)))))
                .hasMessageEndingWith("shadow 'w' is F16; shadows are F32 or F64");
    }
}
