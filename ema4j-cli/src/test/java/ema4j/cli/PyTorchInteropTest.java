package ema4j.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.ParameterStore;
import ema4j.demo.data.FashionMnistDataset;
import ema4j.demo.data.FashionMnistFiles;
import ema4j.demo.data.Split;
import ema4j.demo.model.FashionCnn;
import ema4j.cli.train.TrainingSession;
import ema4j.io.safetensors.SafetensorsFile;
import ema4j.io.safetensors.SafetensorsWriter;
import ema4j.io.safetensors.TensorEntry;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Weights cross between ema4j and PyTorch with the same logits: Debian's {@code python3-torch} runs the CNN's twin,
 * reading and writing safetensors with {@code src/test/resources/interop/torch_interop.py} (stdlib and torch only;
 * the {@code safetensors} package is not in Debian). Skipped where torch is missing, except in CI.
 */
class PyTorchInteropTest {
    private static final String PYTHON = "/usr/bin/python3";
    private static final Path SCRIPT = Path.of("src/test/resources/interop/torch_interop.py");
    private static final int IMAGES = 8;
    private static final float LOGIT_TOLERANCE = 1e-4f;

    @TempDir
    static Path run;
    static Path inputs;
    static float[] images;

    @BeforeAll
    static void requireTorchThenTrainEightSteps() throws Exception {
        String problem = torchProblem();
        if (problem != null && "true".equals(System.getenv("CI"))) {
            fail("python3-torch is required in CI (apt-get install python3-torch): " + problem);
        }
        Assumptions.assumeTrue(problem == null, "skipped: Debian's python3-torch is not installed (CI installs it)");
        CliRun train = CliRun.of("train", "--data", CliRun.SUBSET.toString(), "--train-limit", "256", "--test-limit",
                "100", "--epochs", "1", "--batch-size", "32", "--eval-every", "1000", "--out", run.toString());
        assertThat(train.exitCode()).as(train.err()).isZero();
        images = testImages();
        inputs = run.resolve("inputs.safetensors");
        ByteBuffer bytes = ByteBuffer.allocate(4 * images.length).order(ByteOrder.LITTLE_ENDIAN);
        bytes.asFloatBuffer().put(images);
        SafetensorsWriter.create().metadata("format", "pt").tensor("images", "F32", new long[] {IMAGES, 1, 28, 28},
                bytes).write(inputs);
    }

    /** Why {@code import torch} fails, or null when it works. */
    private static String torchProblem() {
        try {
            Process p = new ProcessBuilder(PYTHON, "-c", "import torch").redirectErrorStream(true).start();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return PYTHON + " -c 'import torch' took over 60 s";
            }
            String output = new String(p.getInputStream().readAllBytes()).strip();
            return p.exitValue() == 0 ? null : PYTHON + " -c 'import torch' exited " + p.exitValue() + ": " + output;
        } catch (Exception e) {
            return PYTHON + " cannot run: " + e.getMessage();
        }
    }

    private static float[] testImages() throws Exception {
        FashionMnistDataset test = FashionMnistDataset.builder().files(FashionMnistFiles.locate(CliRun.SUBSET))
                .split(Split.TEST).setSampling(IMAGES, false).limit(IMAGES).build();
        test.prepare(null);
        float[] pixels = new float[IMAGES * 28 * 28];
        try (NDManager manager = NDManager.newBaseManager()) {
            for (int i = 0; i < IMAGES; i++) {
                float[] image = test.get(manager, i).getData().singletonOrThrow().toFloatArray();
                System.arraycopy(image, 0, pixels, i * image.length, image.length);
            }
        }
        return pixels;
    }

    private static void python(Path log, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of(PYTHON, SCRIPT.toString()));
        command.addAll(List.of(args));
        Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
        if (!p.waitFor(2, TimeUnit.MINUTES)) {
            p.destroyForcibly();
            fail(String.join(" ", command) + " took over 2 minutes: " + Files.readString(log));
        }
        assertThat(p.exitValue()).as(String.join(" ", command) + ": " + Files.readString(log)).isZero();
    }

    /** The CNN's eval-mode logits for the test images, with the DJL model {@code name} saved in {@code models}. */
    private static float[] djlLogits(Path models, String name) throws Exception {
        try (Model model = Model.newInstance(name, Device.cpu())) {
            model.setBlock(FashionCnn.block());
            model.load(models, name);
            NDManager manager = model.getNDManager();
            NDList out = model.getBlock().forward(new ParameterStore(manager, false),
                    new NDList(manager.create(images, new Shape(IMAGES, 1, 28, 28))), false);
            return out.singletonOrThrow().toFloatArray();
        }
    }

    private static float[] floats(SafetensorsFile file, String name, long... shape) throws Exception {
        TensorEntry entry = file.find(name).orElseThrow();
        assertThat(entry.dtype()).isEqualTo("F32");
        assertThat(entry.shape()).containsExactly(shape);
        ByteBuffer bytes = file.read(name);
        float[] values = new float[bytes.remaining() / 4];
        bytes.asFloatBuffer().get(values);
        return values;
    }

    private static float maxAbs(float[] values) {
        float max = 0;
        for (float v : values) {
            max = Math.max(max, Math.abs(v));
        }
        return max;
    }

    @Test
    void emaWeightsExportedInTorchNamesGiveTorchTheLogitsOfTheDjlEmaModel(@TempDir Path dir) throws Exception {
        Path weights = dir.resolve("ema-torch.safetensors");
        CliRun export = CliRun.of("export", run.resolve("checkpoints/step-000000000008").toString(), "--weights",
                "ema", "--map", "fashion-cnn-torch", "--out", weights.toString());
        assertThat(export.exitCode()).as(export.err()).isZero();
        Path out = dir.resolve("torch-out.safetensors");
        python(dir.resolve("forward.log"), "forward", weights.toString(), inputs.toString(), out.toString());

        float[] djl = djlLogits(run.resolve(TrainingSession.MODELS), TrainingSession.EMA_NAME);
        try (SafetensorsFile torch = SafetensorsFile.open(out); SafetensorsFile exported = SafetensorsFile.open(weights)) {
            float[] torchLogits = floats(torch, "logits", IMAGES, 10);
            assertThat(torchLogits).containsExactly(djl, within(LOGIT_TOLERANCE));
            assertThat(maxAbs(torchLogits)).as("largest logit of a trained model").isGreaterThan(0.1f);
            assertThat(exported.tensors()).hasSize(16);
            for (TensorEntry t : exported.tensors()) {
                assertThat(torch.read("state_dict/" + t.name())).as("%s as torch loaded it", t.name())
                        .isEqualTo(exported.read(t.name()));
            }
        }
    }

    @Test
    void torchInitializedWeightsImportedWithTheMapGiveDjlTheLogitsOfTorch(@TempDir Path dir) throws Exception {
        Path weights = dir.resolve("torch-init.safetensors");
        Path logits = dir.resolve("torch-logits.safetensors");
        python(dir.resolve("init.log"), "init", "11", inputs.toString(), weights.toString(), logits.toString());
        Path models = dir.resolve("models");
        CliRun imported = CliRun.of("import", weights.toString(), "--into", models.toString(), "--as", "ema", "--map",
                "fashion-cnn-torch");
        assertThat(imported.exitCode()).as(imported.err()).isZero();

        float[] djl = djlLogits(models, TrainingSession.EMA_NAME);
        try (SafetensorsFile torch = SafetensorsFile.open(logits)) {
            float[] torchLogits = floats(torch, "logits", IMAGES, 10);
            assertThat(djl).containsExactly(torchLogits, within(LOGIT_TOLERANCE));
            assertThat(maxAbs(torchLogits)).as("largest logit of a real forward pass").isGreaterThan(1e-3f);
        }
        CliRun evaluate = CliRun.of("evaluate", models.toString(), "--data", CliRun.SUBSET.toString(),
                "--test-limit", "100");
        assertThat(evaluate.exitCode()).as(evaluate.err()).isZero();
        assertThat(evaluate.out()).containsPattern("(?m)^EMA +\\d+\\.\\d{4} +\\d+\\.\\d\\d%$")
                .containsPattern("(?m)^raw +- +-$");
    }
}
