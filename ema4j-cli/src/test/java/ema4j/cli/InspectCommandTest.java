package ema4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import ema4j.core.Ema4jVersion;
import ema4j.io.checkpoint.Checkpoint;
import ema4j.io.checkpoint.Manifest;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code ema4j inspect} on a real checkpoint of a short real training run. */
class InspectCommandTest {
    @TempDir
    static Path run;
    static Path checkpoint;

    @BeforeAll
    static void trainEightSteps() {
        CliRun train = CliRun.of("train", "--data", CliRun.SUBSET.toString(), "--train-limit", "256", "--test-limit",
                "100", "--epochs", "1", "--batch-size", "32", "--eval-every", "1000", "--out", run.toString());
        assertThat(train.exitCode()).as(train.err()).isZero();
        checkpoint = run.resolve("checkpoints/step-000000000008");
    }

    @Test
    void theTableShowsTheStepEveryFileWithAShortHashAndEveryTensor() throws Exception {
        CliRun inspect = CliRun.of("inspect", checkpoint.toString());
        assertThat(inspect.exitCode()).as(inspect.err()).isZero();
        assertThat(inspect.out()).containsPattern("(?m)^step +8$").contains("ema4j " + Ema4jVersion.version())
                .containsPattern("(?m)^training +step 8,").containsPattern("(?m)^EMA +8 updates");
        Manifest manifest = Checkpoint.open(checkpoint).manifest();
        assertThat(manifest.files()).extracting(Manifest.FileEntry::name)
                .contains("model.safetensors", "ema.safetensors", "optimizer.safetensors", "state.json");
        for (Manifest.FileEntry file : manifest.files()) {
            assertThat(inspect.out()).containsPattern("(?m)^" + file.name().replace(".", "\\.") + " +" + file.bytes()
                    + "  " + file.sha256().substring(0, 12) + "$").doesNotContain(file.sha256());
        }
        assertThat(inspect.out()).containsPattern("ema\\.safetensors +01Conv2d_weight +F32 +\\[16, 1, 3, 3\\]")
                .containsPattern("model\\.safetensors +02BatchNorm_runningVar +F32 +\\[16\\]");
    }

    @Test
    void jsonHasTheManifestWithEveryTensorAndTheEmaState() throws Exception {
        CliRun inspect = CliRun.of("inspect", checkpoint.toString(), "--json");
        assertThat(inspect.exitCode()).as(inspect.err()).isZero();
        JsonNode json = new ObjectMapper().readTree(inspect.out());
        Manifest manifest = Checkpoint.open(checkpoint).manifest();
        assertThat(json.path("manifest").path("step").asLong()).isEqualTo(8);
        assertThat(json.path("manifest").path("tensors")).hasSize(manifest.tensors().size());
        assertThat(json.path("manifest").path("tensors").get(0).path("name").asText())
                .isEqualTo(manifest.tensors().get(0).name());
        assertThat(json.path("manifest").path("files").get(0).path("sha256").asText()).hasSize(64);
        assertThat(json.path("state").path("ema").path("updates").asLong()).isEqualTo(8);
        assertThat(json.path("state").path("ema").path("schedule").path("kind").asText()).isNotEmpty();
        assertThat(json.path("state").path("training").path("step").asLong()).isEqualTo(8);
        assertThat(json.path("state").path("training").has("rows")).isFalse();
    }

    @Test
    void aDamagedCheckpointIsOneLineAndExitCodeTwo(@TempDir Path dir) throws Exception {
        Path copy = dir.resolve("step-000000000008");
        copyTree(checkpoint, copy);
        try (FileChannel ema = FileChannel.open(copy.resolve("ema.safetensors"), StandardOpenOption.WRITE,
                StandardOpenOption.READ)) {
            ByteBuffer last = ByteBuffer.allocate(1);
            ema.read(last, ema.size() - 1);
            last.put(0, (byte) (last.get(0) ^ 1));
            ema.write(last.flip(), ema.size() - 1);
        }
        CliRun inspect = CliRun.of("inspect", copy.toString());
        assertThat(inspect.exitCode()).isEqualTo(2);
        assertThat(inspect.err().lines()).hasSize(1);
        assertThat(inspect.err()).startsWith("ema4j: " + copy).contains("ema.safetensors").contains("damaged");
        assertThat(inspect.out()).isEmpty();
    }

    @Test
    void aDirectoryWithoutAManifestIsOneLineAndExitCodeTwo(@TempDir Path dir) {
        CliRun inspect = CliRun.of("inspect", dir.toString());
        assertThat(inspect.exitCode()).isEqualTo(2);
        assertThat(inspect.err().strip())
                .isEqualTo("ema4j: " + dir + ": no manifest.json: not a complete checkpoint");
    }

    private static void copyTree(Path from, Path to) throws Exception {
        try (Stream<Path> walk = Files.walk(from)) {
            for (Path p : walk.toList()) {
                Files.copy(p, to.resolve(from.relativize(p).toString()));
            }
        }
    }
}
