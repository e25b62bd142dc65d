package ema4j.cli.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.stream.LongStream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PlotsTest {
    private static final double NAN = Double.NaN;
    private static final byte[] PNG_SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

    @TempDir
    Path dir;

    @Test
    void theTrainingLossChartIsAPngOfTheDocumentedSize() throws IOException {
        Path png = dir.resolve("loss.png");

        Plots.trainingLoss(noisyTrainLoss(2000), evaluations(5, true), png);

        assertPng(png, Plots.WIDTH, Plots.HEIGHT);
    }

    @Test
    void theTrainingLossChartSkipsNaNPointsAndEmptyEmaSeries() throws IOException {
        List<TrainLossPoint> withNaN = List.of(new TrainLossPoint(1, 2.3), new TrainLossPoint(2, NAN),
                new TrainLossPoint(3, Double.POSITIVE_INFINITY), new TrainLossPoint(4, 2.1));
        Path png = dir.resolve("loss.png");

        Plots.trainingLoss(withNaN, evaluations(3, false), png);

        assertPng(png, Plots.WIDTH, Plots.HEIGHT);
    }

    @Test
    void aTrainingLossChartWithNoDataAtAllIsStillAPng() throws IOException {
        Path png = dir.resolve("loss.png");

        Plots.trainingLoss(List.of(new TrainLossPoint(1, NAN)), List.of(), png);

        assertPng(png, Plots.WIDTH, Plots.HEIGHT);
    }

    @Test
    void thePosthocSweepChartIsAPngEvenWithRefusedTargetsAndNoReferenceLines() throws IOException {
        Path png = dir.resolve("posthoc-sweep.png");
        Path bare = dir.resolve("posthoc-sweep-bare.png");

        Plots.posthocSweep(new double[] {0.05, 0.1, 0.2}, new double[] {0.88, NAN, 0.9}, 0.87, 0.89, "run's EMA",
                png);
        Plots.posthocSweep(new double[] {0.05}, new double[] {NAN}, NAN, NAN, "run's EMA", bare);

        assertPng(png, Plots.WIDTH, Plots.HEIGHT);
        assertPng(bare, Plots.WIDTH, Plots.HEIGHT);
    }

    @Test
    void theTestAccuracyChartIsAPngWithOrWithoutEma() throws IOException {
        Path withEma = dir.resolve("accuracy.png");
        Path withoutEma = dir.resolve("accuracy-raw.png");

        Plots.testAccuracy(evaluations(6, true), withEma);
        Plots.testAccuracy(evaluations(6, false), withoutEma);

        assertPng(withEma, Plots.WIDTH, Plots.HEIGHT);
        assertPng(withoutEma, Plots.WIDTH, Plots.HEIGHT);
    }

    @Test
    void aTestAccuracyChartOfOneEvaluationIsAPng() throws IOException {
        Path png = dir.resolve("accuracy.png");

        Plots.testAccuracy(evaluations(1, true), png);

        assertPng(png, Plots.WIDTH, Plots.HEIGHT);
    }

    @Test
    void theDecayScheduleChartIsAPngOverDecadesOfUpdates() throws IOException {
        long[] updates = LongStream.rangeClosed(0, 100_000).filter(t -> t < 100 || t % 97 == 0).toArray();
        double[] decay = Arrays.stream(updates).mapToDouble(t -> Math.min(0.9999, 1 - Math.pow(1 + t, -0.75)))
                .toArray();
        Path png = dir.resolve("schedule.png");

        Plots.decaySchedule(updates, decay, "warmup(power=0.75, maxDecay=0.9999)", png);

        assertPng(png, Plots.WIDTH, Plots.SCHEDULE_HEIGHT);
    }

    @Test
    void theDecayScheduleChartSkipsNaNAndTheInfiniteHorizonOfDecayOne() throws IOException {
        long[] updates = {0, 1, 2, 3, 4, 5};
        double[] decay = {0, 0.5, NAN, 0.9, 1.0, 1.0};
        Path png = dir.resolve("schedule.png");

        Plots.decaySchedule(updates, decay, "frozen", png);

        assertPng(png, Plots.WIDTH, Plots.SCHEDULE_HEIGHT);
    }

    @Test
    void decayOfAnotherLengthThanUpdatesIsRejected() {
        assertThatThrownBy(() -> Plots.decaySchedule(new long[3], new double[2], "t", dir.resolve("s.png")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("decay.length must be updates.length = 3, was 2");
    }

    @Test
    void chartsRenderHeadless() throws IOException {
        Plots.testAccuracy(List.of(), dir.resolve("empty.png"));

        assertThat(System.getProperty("java.awt.headless")).isEqualTo("true");
    }

    private static void assertPng(Path png, int width, int height) throws IOException {
        byte[] bytes = Files.readAllBytes(png);
        assertThat(Arrays.copyOf(bytes, PNG_SIGNATURE.length)).isEqualTo(PNG_SIGNATURE);
        BufferedImage image = ImageIO.read(png.toFile());
        assertThat(image).isNotNull();
        assertThat(image.getWidth()).isEqualTo(width);
        assertThat(image.getHeight()).isEqualTo(height);
    }

    private static List<TrainLossPoint> noisyTrainLoss(int steps) {
        Random random = new Random(42);
        return IntStream.rangeClosed(1, steps)
                .mapToObj(t -> new TrainLossPoint(t, 2.3 * Math.exp(-t / 400.0) + 0.3 + 0.15 * random.nextGaussian()))
                .toList();
    }

    private static List<EvaluationRow> evaluations(int count, boolean ema) {
        return IntStream.range(0, count).mapToObj(i -> new EvaluationRow(400L * i, i,
                i == 0 ? NAN : 0.3 + 1.0 / (i + 1),
                0.35 + 1.0 / (i + 1) + 0.03 * (i % 2), 0.6 + 0.05 * i - 0.01 * (i % 2),
                ema ? 0.33 + 1.0 / (i + 1) : NAN, ema ? 0.61 + 0.05 * i : NAN,
                ema ? 0.999 : NAN, 10.0 * i)).toList();
    }
}
