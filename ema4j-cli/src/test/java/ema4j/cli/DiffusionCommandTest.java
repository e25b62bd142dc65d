package ema4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ema4j.cli.diffusion.DiffusionTraining;
import ema4j.io.posthoc.Snapshot;
import ema4j.io.posthoc.SnapshotStore;
import ema4j.io.safetensors.SafetensorsFile;
import ema4j.io.safetensors.TensorEntry;
import java.awt.image.BufferedImage;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code diffusion train} and {@code diffusion score} end to end on the committed subset, at sizes that only exercise
 * the wiring: 16 steps of batch 16, 32 samples of 2 DDIM steps, a classifier trained for a few steps here.
 */
class DiffusionCommandTest {
    @TempDir
    static Path root;
    static Path run;
    static Path classifier;
    static String classifierSha256;

    @BeforeAll
    static void trainADiffusionModelAndAClassifier() throws Exception {
        run = root.resolve("run");
        CliRun train = train(run, 1);
        assertThat(train.exitCode()).as(train.err()).isZero();
        CliRun cnn = CliRun.of("train", "--data", CliRun.SUBSET.toString(), "--train-limit", "500", "--test-limit",
                "100", "--epochs", "1", "--batch-size", "50", "--eval-every", "1000", "--out",
                root.resolve("classifier").toString());
        assertThat(cnn.exitCode()).as(cnn.err()).isZero();
        classifier = root.resolve("classifier/models/fmnist-raw-0000.params");
        classifierSha256 = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                .digest(Files.readAllBytes(classifier)));
    }

    /** 256 images in batches of 16: 16 steps per epoch, snapshots of two lengths every 4 steps. */
    private static CliRun train(Path out, int epochs) {
        return CliRun.of("diffusion", "train", "--data", CliRun.SUBSET.toString(), "--train-limit", "256",
                "--batch-size", "16", "--epochs", Integer.toString(epochs), "--seed", "3", "--posthoc-every", "4",
                "--posthoc-sigma-rel", "0.05,0.10", "--out", out.toString());
    }

    @Test
    void trainingWritesBothUNetsAndTheSnapshotsAndTheEmaDiffersFromTheRawWeights() throws Exception {
        Path models = run.resolve(DiffusionTraining.MODELS);
        float[] raw = weights(models.resolve(DiffusionTraining.RAW_FILE));
        float[] ema = weights(models.resolve(DiffusionTraining.EMA_FILE));
        assertThat(raw).hasSameSizeAs(ema).hasSizeGreaterThan(300_000);
        double difference = 0;
        for (int i = 0; i < raw.length; i++) {
            difference = Math.max(difference, Math.abs(raw[i] - ema[i]));
        }
        assertThat(difference).isGreaterThan(1e-4);
        assertThat(SnapshotStore.open(run.resolve(DiffusionTraining.POSTHOC)).snapshots()).extracting(Snapshot::step)
                .containsExactly(4L, 4L, 8L, 8L, 12L, 12L, 16L, 16L);
    }

    @Test
    void resumeLatestWithMoreEpochsContinuesAFinishedRun() throws Exception {
        Path out = root.resolve("resumed");
        assertThat(train(out, 1).exitCode()).isZero();
        assertThat(stepOf(out.resolve("models").resolve(DiffusionTraining.RAW_FILE))).isEqualTo("16");

        CliRun more = CliRun.of("diffusion", "train", "--data", CliRun.SUBSET.toString(), "--train-limit", "256",
                "--batch-size", "16", "--epochs", "2", "--seed", "3", "--posthoc-every", "4", "--posthoc-sigma-rel",
                "0.05,0.10", "--resume", "latest", "--out", out.toString());

        assertThat(more.exitCode()).as(more.err()).isZero();
        assertThat(more.out()).startsWith("32 steps;");
        assertThat(stepOf(out.resolve("models").resolve(DiffusionTraining.EMA_FILE))).isEqualTo("32");
        assertThat(SnapshotStore.open(out.resolve(DiffusionTraining.POSTHOC)).snapshots()).extracting(Snapshot::step)
                .endsWith(28L, 28L, 32L, 32L);
    }

    @Test
    void scoreWritesFiniteDistancesOfEveryVariantTheNoiseFloorAndThePictures() throws Exception {
        Path out = root.resolve("score");
        CliRun score = CliRun.of("diffusion", "score", "--run", run.toString(), "--classifier", classifier.toString(),
                "--classifier-sha256", classifierSha256.toUpperCase(java.util.Locale.ROOT), "--classifier-model",
                "cnn", "--samples", "32", "--ddim-steps", "2", "--sigma-rel", "0.01,0.05,0.10",
                "--sampling-seeds", "1,2", "--sampling-batch", "16", "--data", CliRun.SUBSET.toString(), "--out",
                out.toString());
        assertThat(score.exitCode()).as(score.err()).isZero();
        System.out.print(score.out());

        assertThat(score.out()).contains("NOT Inception FID").contains("refused: target (sigma_rel 0.0100")
                .contains("best post-hoc EMA: sigma_rel");
        List<String> csv = Files.readAllLines(out.resolve("diffusion-score.csv"));
        assertThat(csv.get(0)).isEqualTo("variant,sigma_rel,seed,distance,residual,amplification");
        assertThat(csv.subList(1, csv.size())).extracting(line -> line.split(",", -1)[0] + " "
                + line.split(",", -1)[1] + " " + line.split(",", -1)[2])
                .containsExactly("raw  1", "raw  2", "ema  1", "ema  2", "posthoc 0.01 ", "posthoc 0.05 1",
                        "posthoc 0.05 2", "posthoc 0.1 1", "posthoc 0.1 2", "real-vs-real  ");
        for (String line : csv.subList(1, csv.size())) {
            String[] fields = line.split(",", -1);
            if (!fields[1].equals("0.01")) {
                assertThat(Double.parseDouble(fields[3])).as(line).isFinite().isGreaterThanOrEqualTo(0);
            }
            if (fields[0].equals("posthoc") && !fields[1].equals("0.01")) {
                assertThat(Double.parseDouble(fields[4])).as(line).isFinite();
                assertThat(Double.parseDouble(fields[5])).as(line).isGreaterThanOrEqualTo(1);
            }
        }
        // two sampling seeds start from different noise, so their samples and distances differ
        assertThat(csv.get(1).split(",")[3]).isNotEqualTo(csv.get(2).split(",")[3]);

        BufferedImage sweep = ImageIO.read(out.resolve("diffusion-sweep.png").toFile());
        assertThat(sweep.getWidth()).isEqualTo(ema4j.cli.report.Plots.WIDTH);
        // raw, EMA and the best post-hoc EMA side by side: three panels of 8 x 8 images of 56 x 56 screen pixels
        BufferedImage grids = ImageIO.read(out.resolve("diffusion-samples.png").toFile());
        assertThat(grids.getWidth()).isEqualTo(3 * (8 * 56 + 16) + 16);
    }

    @Test
    void aWrongClassifierHashIsRefusedInOneLineBeforeAnySampling() {
        Path out = root.resolve("refused");
        String wrong = "0".repeat(64);
        CliRun score = CliRun.of("diffusion", "score", "--run", run.toString(), "--classifier", classifier.toString(),
                "--classifier-sha256", wrong, "--classifier-model", "cnn", "--samples", "32", "--ddim-steps", "2",
                "--data", CliRun.SUBSET.toString(), "--out", out.toString());

        assertThat(score.exitCode()).isEqualTo(2);
        assertThat(score.err().strip()).isEqualTo("ema4j: --classifier-sha256 must be the SHA-256 of " + classifier
                + ", " + classifierSha256 + " (another classifier would change the metric; score with the one"
                + " recorded, or record the new one's hash on purpose), was " + wrong);
        assertThat(score.out()).isEmpty();
        assertThat(out).doesNotExist();
    }

    private static float[] weights(Path file) throws Exception {
        try (SafetensorsFile weights = SafetensorsFile.open(file)) {
            int total = 0;
            for (TensorEntry entry : weights.tensors()) {
                assertThat(entry.dtype()).isEqualTo("F32");
                total += Math.toIntExact(entry.byteLength() / Float.BYTES);
            }
            float[] values = new float[total];
            int at = 0;
            for (TensorEntry entry : weights.tensors()) {
                ByteBuffer bytes = weights.read(entry.name()).order(ByteOrder.LITTLE_ENDIAN);
                int count = bytes.remaining() / Float.BYTES;
                bytes.asFloatBuffer().get(values, at, count);
                at += count;
            }
            return values;
        }
    }

    private static String stepOf(Path file) throws Exception {
        try (SafetensorsFile weights = SafetensorsFile.open(file)) {
            return weights.metadata().get("step");
        }
    }
}
