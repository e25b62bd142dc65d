package ema4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import ema4j.demo.model.FashionCnn;
import ema4j.cli.train.TrainingSession;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RecalibrateBnCommandTest {

    private static float[] firstRunningVar(Path dir) throws Exception {
        try (Model model = Model.newInstance(TrainingSession.EMA_NAME, Device.cpu())) {
            model.setBlock(FashionCnn.block());
            model.load(dir, TrainingSession.EMA_NAME);
            for (Pair<String, Parameter> p : model.getBlock().getParameters()) {
                if (p.getValue().getType() == Parameter.Type.RUNNING_VAR) {
                    return p.getValue().getArray().toFloatArray();
                }
            }
        }
        throw new AssertionError("no BatchNorm");
    }

    @Test
    void theRunningStatisticsOfASavedModelAreRecomputedAndItStillEvaluates(@TempDir Path dir) throws Exception {
        try (Model model = Model.newInstance(TrainingSession.EMA_NAME, Device.cpu())) {
            model.setBlock(FashionCnn.block());
            model.getBlock().initialize(model.getNDManager(), DataType.FLOAT32, FashionCnn.INPUT);
            model.save(dir.resolve("models"), TrainingSession.EMA_NAME);
        }
        float[] before = firstRunningVar(dir.resolve("models"));
        CliRun run = CliRun.of("recalibrate-bn", dir.resolve("models").toString(), "--batches", "4", "--batch-size",
                "64", "--train-limit", "512", "--data", CliRun.SUBSET.toString(), "--into",
                dir.resolve("recalibrated").toString());
        assertThat(run.exitCode()).as(run.err()).isZero();
        assertThat(run.out()).contains("recalibrated BatchNorm over 4 batches of 64");
        float[] after = firstRunningVar(dir.resolve("recalibrated"));
        assertThat(after).isNotEqualTo(before);
        for (float v : after) {
            assertThat(v).isPositive().isFinite();
        }

        CliRun evaluate = CliRun.of("evaluate", dir.resolve("recalibrated").toString(), "--data",
                CliRun.SUBSET.toString(), "--test-limit", "200");
        assertThat(evaluate.exitCode()).as(evaluate.err()).isZero();
    }

    @Test
    void aCheckpointsEmaIsRecalibratedIntoAModelAndTheCheckpointIsLeftAsItWas(@TempDir Path dir) throws Exception {
        CliRun train = CliRun.of("train", "--data", CliRun.SUBSET.toString(), "--train-limit", "256", "--test-limit",
                "100", "--epochs", "1", "--batch-size", "64", "--eval-every", "1000", "--out", dir.toString());
        assertThat(train.exitCode()).as(train.err()).isZero();
        Path checkpoint = dir.resolve("checkpoints/step-000000000004");
        byte[] ema = Files.readAllBytes(checkpoint.resolve("ema.safetensors"));

        CliRun refused = CliRun.of("recalibrate-bn", checkpoint.toString(), "--data", CliRun.SUBSET.toString());
        assertThat(refused.exitCode()).isEqualTo(2);
        assertThat(refused.err()).startsWith("ema4j: --into must name the directory for the recalibrated model");

        CliRun run = CliRun.of("recalibrate-bn", checkpoint.toString(), "--batches", "3", "--batch-size", "64",
                "--train-limit", "512", "--data", CliRun.SUBSET.toString(), "--into", dir.resolve("bn").toString());
        assertThat(run.exitCode()).as(run.err()).isZero();
        assertThat(firstRunningVar(dir.resolve("bn"))).isNotEqualTo(firstRunningVar(dir.resolve("models")));
        assertThat(Files.readAllBytes(checkpoint.resolve("ema.safetensors"))).isEqualTo(ema);
        CliRun evaluate = CliRun.of("evaluate", dir.resolve("bn").toString(), "--data", CliRun.SUBSET.toString(),
                "--test-limit", "100");
        assertThat(evaluate.exitCode()).as(evaluate.err()).isZero();
        // the same batches every time: recalibrating again gives the same statistics
        CliRun again = CliRun.of("recalibrate-bn", checkpoint.toString(), "--batches", "3", "--batch-size", "64",
                "--train-limit", "512", "--data", CliRun.SUBSET.toString(), "--into", dir.resolve("bn2").toString());
        assertThat(again.exitCode()).as(again.err()).isZero();
        assertThat(firstRunningVar(dir.resolve("bn2"))).containsExactly(firstRunningVar(dir.resolve("bn")));
    }

    @Test
    void zeroBatchesIsRefused(@TempDir Path dir) {
        CliRun run = CliRun.of("recalibrate-bn", dir.toString(), "--batches", "0");
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().strip()).isEqualTo("ema4j: --batches must be >= 1, was 0");
    }
}
