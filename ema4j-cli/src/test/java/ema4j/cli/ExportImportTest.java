package ema4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import ema4j.cli.interop.TensorNameMap;
import ema4j.demo.model.FashionCnn;
import ema4j.io.safetensors.SafetensorsFile;
import ema4j.io.safetensors.SafetensorsWriter;
import ema4j.io.safetensors.TensorEntry;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ema4j export} and {@code ema4j import} on a real checkpoint, evaluated by the real engine. */
class ExportImportTest {
    @TempDir
    static Path run;
    static Path checkpoint;
    static String originalEvaluation;

    @BeforeAll
    static void trainEightStepsAndEvaluate() {
        CliRun train = CliRun.of("train", "--data", CliRun.SUBSET.toString(), "--train-limit", "256", "--test-limit",
                "100", "--epochs", "1", "--batch-size", "32", "--eval-every", "1000", "--out", run.toString());
        assertThat(train.exitCode()).as(train.err()).isZero();
        checkpoint = run.resolve("checkpoints/step-000000000008");
        originalEvaluation = evaluate(run.resolve("models"));
    }

    private static String evaluate(Path models) {
        CliRun evaluate = CliRun.of("evaluate", models.toString(), "--data", CliRun.SUBSET.toString(),
                "--test-limit", "100");
        assertThat(evaluate.exitCode()).as(evaluate.err()).isZero();
        return evaluate.out();
    }

    private static void ok(CliRun run) {
        assertThat(run.exitCode()).as(run.err()).isZero();
    }

    @Test
    void exportedAndReimportedWeightsEvaluateExactlyLikeTheTrainedModels(@TempDir Path dir) {
        ok(CliRun.of("export", checkpoint.toString(), "--weights", "raw", "--out", dir.resolve("raw.safetensors")
                .toString()));
        ok(CliRun.of("export", checkpoint.toString(), "--out", dir.resolve("ema.safetensors").toString()));
        Path models = dir.resolve("models");
        ok(CliRun.of("import", dir.resolve("raw.safetensors").toString(), "--into", models.toString(), "--as", "raw"));
        CliRun imported = CliRun.of("import", dir.resolve("ema.safetensors").toString(), "--into", models.toString());
        ok(imported);
        assertThat(imported.out()).contains("fmnist-ema-0000.params").contains("16 parameters");
        assertThat(originalEvaluation).containsPattern("(?m)^raw +\\d+\\.\\d{4} +\\d+\\.\\d\\d%$")
                .containsPattern("(?m)^EMA +\\d+\\.\\d{4} +\\d+\\.\\d\\d%$");
        assertThat(evaluate(models)).isEqualTo(originalEvaluation);
    }

    @Test
    void anExportHoldsTheChosenWeightsByteForByteWithTheirStepAsMetadata(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("sub/ema.safetensors");
        CliRun export = CliRun.of("export", checkpoint.toString(), "--out", out.toString());
        ok(export);
        assertThat(export.out().strip()).isEqualTo("wrote " + out + ": 16 tensors, EMA weights of step 8");
        try (SafetensorsFile exported = SafetensorsFile.open(out);
                SafetensorsFile original = SafetensorsFile.open(checkpoint.resolve("ema.safetensors"))) {
            assertThat(exported.metadata()).containsExactly(Map.entry("format", "pt"), Map.entry("source", "ema4j"),
                    Map.entry("weights", "ema"), Map.entry("step", "8"));
            assertThat(exported.tensors()).extracting(TensorEntry::name)
                    .containsExactlyElementsOf(original.tensors().stream().map(TensorEntry::name).toList());
            for (TensorEntry t : original.tensors()) {
                assertThat(exported.read(t.name())).as(t.name()).isEqualTo(original.read(t.name()));
            }
        }
        try (Stream<Path> siblings = Files.list(dir.resolve("sub"))) {
            assertThat(siblings.map(p -> p.getFileName().toString())).containsExactly("ema.safetensors");
        }
    }

    @Test
    void theTorchMapNamesEveryParameterOfTheCnnAndRoundTrips(@TempDir Path dir) throws Exception {
        List<String> djlNames = new ArrayList<>();
        try (NDManager manager = NDManager.newBaseManager()) {
            Block block = FashionCnn.block();
            block.initialize(manager, DataType.FLOAT32, FashionCnn.INPUT);
            for (Pair<String, Parameter> p : block.getParameters()) {
                djlNames.add(p.getKey());
            }
        }
        Map<String, String> torch = TensorNameMap.of(TensorNameMap.FASHION_CNN_TORCH).rename(djlNames, "FashionCnn");
        assertThat(torch.keySet()).containsExactlyElementsOf(djlNames);
        assertThat(torch.values()).containsExactly("conv1.weight", "conv1.bias", "bn1.weight", "bn1.bias",
                "bn1.running_mean", "bn1.running_var", "conv2.weight", "conv2.bias", "bn2.weight", "bn2.bias",
                "bn2.running_mean", "bn2.running_var", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias");

        Path file = dir.resolve("torch.safetensors");
        ok(CliRun.of("export", checkpoint.toString(), "--out", file.toString(), "--map", "fashion-cnn-torch"));
        try (SafetensorsFile exported = SafetensorsFile.open(file)) {
            assertThat(exported.tensors()).extracting(TensorEntry::name).containsExactlyInAnyOrderElementsOf(
                    torch.values());
            assertThat(exported.find("fc1.weight").orElseThrow().shape()).containsExactly(128, 32 * 7 * 7);
        }
        Path models = dir.resolve("models");
        ok(CliRun.of("import", file.toString(), "--into", models.toString(), "--map", "fashion-cnn-torch"));
        assertThat(emaLine(evaluate(models))).isEqualTo(emaLine(originalEvaluation));
    }

    private static String emaLine(String evaluation) {
        return evaluation.lines().filter(l -> l.startsWith("EMA")).findFirst().orElseThrow();
    }

    @Test
    void aMapLineNamingNoTensorOfTheCheckpointIsRefusedWithItsLineNumber(@TempDir Path dir) throws Exception {
        Path map = dir.resolve("names.map");
        Files.writeString(map, "# DJL -> mine\n01Conv2d_weight first.weight\n\n01Conv2d_wieght first.bias  # typo\n");
        CliRun export = export(dir, "--map", map.toString());
        assertThat(export.exitCode()).isEqualTo(2);
        assertThat(export.err().strip()).isEqualTo("ema4j: " + map + " line 4 must name a tensor of "
                + checkpoint.resolve("ema.safetensors") + ", was '01Conv2d_wieght'");
    }

    @Test
    void aMapNamingOneTensorTwiceIsRefusedWithBothLineNumbers(@TempDir Path dir) throws Exception {
        Path map = dir.resolve("names.map");
        Files.writeString(map, "01Conv2d_weight a\n01Conv2d_bias b\n01Conv2d_weight c\n");
        CliRun export = export(dir, "--map", map.toString());
        assertThat(export.exitCode()).isEqualTo(2);
        assertThat(export.err().strip()).isEqualTo("ema4j: " + map + " line 3 must name each DJL tensor once, was"
                + " '01Conv2d_weight' again (first on line 1)");
        Files.writeString(map, "01Conv2d_weight a\n01Conv2d_bias a\n");
        assertThat(export(dir, "--map", map.toString()).err().strip()).isEqualTo("ema4j: " + map
                + " line 2 must name each other tensor once, was 'a' again (first on line 1)");
    }

    @Test
    void aMapThatGivesTwoTensorsOneNameIsRefused(@TempDir Path dir) throws Exception {
        Path map = dir.resolve("names.map");
        Files.writeString(map, "01Conv2d_weight 01Conv2d_bias\n");
        CliRun export = export(dir, "--map", map.toString());
        assertThat(export.exitCode()).isEqualTo(2);
        assertThat(export.err().strip()).isEqualTo("ema4j: tensor names after " + map + " must be unique, was"
                + " '01Conv2d_bias' for both '01Conv2d_weight' and '01Conv2d_bias' of "
                + checkpoint.resolve("ema.safetensors"));
    }

    @Test
    void aMalformedMapLineOrAMissingMapFileIsOneLine(@TempDir Path dir) throws Exception {
        Path map = dir.resolve("names.map");
        Files.writeString(map, "01Conv2d_weight conv1.weight extra\n");
        CliRun export = export(dir, "--map", map.toString());
        assertThat(export.exitCode()).isEqualTo(2);
        assertThat(export.err().strip()).isEqualTo("ema4j: " + map + " line 1 must be 'djl_name other_name'"
                + " (- for none on one side), was '01Conv2d_weight conv1.weight extra'");
        CliRun missing = export(dir, "--map", "fashion-cnn-tf");
        assertThat(missing.exitCode()).isEqualTo(2);
        assertThat(missing.err().strip()).isEqualTo("ema4j: --map must be fashion-cnn-torch or a mapping file, was"
                + " fashion-cnn-tf (no such file)");
        assertThat(dir.resolve("out.safetensors")).doesNotExist();
    }

    private static CliRun export(Path dir, String... extra) {
        List<String> args = new ArrayList<>(List.of("export", checkpoint.toString(), "--out",
                dir.resolve("out.safetensors").toString()));
        args.addAll(List.of(extra));
        return CliRun.of(args.toArray(String[]::new));
    }

    @Test
    void importingAFileThatDoesNotFitTheCnnListsTheDifferencesAndWritesNothing(@TempDir Path dir) throws Exception {
        Path raw = dir.resolve("raw.safetensors");
        ok(CliRun.of("export", checkpoint.toString(), "--weights", "raw", "--out", raw.toString()));
        Path bad = dir.resolve("bad.safetensors");
        try (SafetensorsFile file = SafetensorsFile.open(raw)) {
            SafetensorsWriter writer = SafetensorsWriter.create();
            for (TensorEntry t : file.tensors()) {
                if (t.name().equals("10Linear_bias")) {
                    writer.tensor(t.name(), "F32", new long[] {64}, floats(64));
                } else if (!t.name().equals("12Linear_bias")) {
                    writer.tensor(t.name(), t.dtype(), t.shape(), file.read(t.name()));
                }
            }
            writer.tensor("extra", "F32", new long[] {1}, floats(1)).write(bad);
        }
        Path models = dir.resolve("models");
        CliRun imported = CliRun.of("import", bad.toString(), "--into", models.toString());
        assertThat(imported.exitCode()).isEqualTo(2);
        assertThat(imported.err().strip()).isEqualTo("ema4j: tensors of " + bad + " must match the model's 16"
                + " parameters by name, shape and dtype, was missing 1: [12Linear_bias]; unexpected 1: [extra];"
                + " different 1: [10Linear_bias is F32 [64], the model's is F32 [128]]");
        assertThat(models).doesNotExist();
    }

    @Test
    void importingANanWeightIsRefusedNamingItAndWritesNothing(@TempDir Path dir) throws Exception {
        Path raw = dir.resolve("raw.safetensors");
        ok(CliRun.of("export", checkpoint.toString(), "--weights", "raw", "--out", raw.toString()));
        Path nan = dir.resolve("nan.safetensors");
        try (SafetensorsFile file = SafetensorsFile.open(raw)) {
            SafetensorsWriter writer = SafetensorsWriter.create();
            for (TensorEntry t : file.tensors()) {
                ByteBuffer values = file.read(t.name()).order(ByteOrder.LITTLE_ENDIAN);
                if (t.name().equals("10Linear_bias")) {
                    values.putFloat(4 * 3, Float.NaN);
                }
                writer.tensor(t.name(), t.dtype(), t.shape(), values);
            }
            writer.write(nan);
        }
        Path models = dir.resolve("models");
        CliRun imported = CliRun.of("import", nan.toString(), "--into", models.toString());
        assertThat(imported.exitCode()).isEqualTo(2);
        assertThat(imported.err().strip()).isEqualTo("ema4j: every weight of " + nan + " must be finite, was NaN at"
                + " 10Linear_bias[3]");
        assertThat(models).doesNotExist();
    }

    @Test
    void importingAFileThatIsNoSafetensorsIsOneLine(@TempDir Path dir) throws Exception {
        Path text = dir.resolve("weights.safetensors");
        Files.writeString(text, "not a safetensors file");
        CliRun imported = CliRun.of("import", text.toString(), "--into", dir.resolve("models").toString());
        assertThat(imported.exitCode()).isEqualTo(2);
        assertThat(imported.err().lines()).hasSize(1);
        assertThat(imported.err()).startsWith("ema4j: " + text).contains("header length");
    }

    private static ByteBuffer floats(int count) {
        return ByteBuffer.allocate(4 * count).order(ByteOrder.LITTLE_ENDIAN);
    }
}
