package ema4j.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import ema4j.io.posthoc.Snapshot;
import ema4j.io.posthoc.SnapshotStore;
import ema4j.io.safetensors.SafetensorsFile;
import ema4j.io.safetensors.TensorEntry;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * End to end on the committed subset: record snapshots while training (train --posthoc-every), reconstruct, compare
 * with a tracked EMA, sweep. One training run serves every test, so {@code posthoc sweep} is tested here too.
 */
class PostHocCommandTest {
    @TempDir
    static Path run;

    @BeforeAll
    static void trainWithThreeTrackedLengths() {
        CliRun train = CliRun.of("train", "--data", CliRun.SUBSET.toString(), "--train-limit", "2000",
                "--test-limit", "500", "--epochs", "1", "--batch-size", "32", "--eval-every", "1000", "--seed", "7",
                "--posthoc-every", "10", "--posthoc-sigma-rel", "0.05,0.10,0.15", "--out", run.toString());
        assertThat(train.exitCode()).as(train.err()).isZero();
    }

    /**
     * The relative L2 error of file {@code a}'s tensors against file {@code b}'s, over the tensors that {@code pick}
     * names (written here, apart from the command's own, which the tests compare with it).
     */
    private static double relativeError(Path a, Path b, java.util.function.Predicate<String> pick) throws Exception {
        double squaredDifference = 0;
        double squaredNorm = 0;
        int compared = 0;
        try (SafetensorsFile fa = SafetensorsFile.open(a); SafetensorsFile fb = SafetensorsFile.open(b)) {
            for (TensorEntry entry : fa.tensors()) {
                if (!pick.test(entry.name())) {
                    continue;
                }
                float[] x = floats(fa, entry.name());
                float[] y = floats(fb, entry.name());
                assertThat(x).as(entry.name()).hasSameSizeAs(y);
                for (int i = 0; i < x.length; i++) {
                    squaredDifference += ((double) x[i] - y[i]) * ((double) x[i] - y[i]);
                    squaredNorm += (double) y[i] * y[i];
                }
                compared++;
            }
        }
        assertThat(compared).as("tensors compared").isPositive();
        return Math.sqrt(squaredDifference / squaredNorm);
    }

    private static float[] floats(SafetensorsFile file, String name) throws Exception {
        java.nio.FloatBuffer buffer = file.read(name).order(java.nio.ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
        float[] values = new float[buffer.remaining()];
        buffer.get(values);
        return values;
    }

    private static Snapshot tracked(SnapshotStore store, double sigmaRel, long step) {
        return store.snapshots().stream()
                .filter(s -> s.step() == step && Math.abs(s.sigmaRel() - sigmaRel) < 1e-9).findFirst().orElseThrow();
    }

    @Test
    void trainingRecordedASnapshotOfEachSigmaRelEveryNStepsAndAtTheEnd() throws Exception {
        SnapshotStore store = SnapshotStore.open(run.resolve("posthoc"));
        assertThat(store.snapshots()).extracting(Snapshot::step)
                .containsExactly(10L, 10L, 10L, 20L, 20L, 20L, 30L, 30L, 30L, 40L, 40L, 40L, 50L, 50L, 50L, 60L, 60L,
                        60L, 63L, 63L, 63L);
        assertThat(store.snapshots().subList(0, 3)).extracting(Snapshot::sigmaRel)
                .satisfiesExactly(s -> assertThat(s).isCloseTo(0.05, within(1e-9)),
                        s -> assertThat(s).isCloseTo(0.10, within(1e-9)),
                        s -> assertThat(s).isCloseTo(0.15, within(1e-9)));
        try (SafetensorsFile last = SafetensorsFile.open(store.pathOf(store.snapshots().get(20)))) {
            assertThat(last.tensors()).allMatch(t -> t.dtype().equals("F32"));
            assertThat(last.tensors()).extracting(TensorEntry::name).anyMatch(n -> n.contains("runningMean"));
        }
    }

    @Test
    void reconstructingAHeldOutTrackedLengthFromTheOtherTwoMatchesIt(@TempDir Path out) throws Exception {
        CliRun posthoc = CliRun.of("posthoc", "--snapshots", run.resolve("posthoc").toString(), "--sigma-rel", "0.10",
                "--exclude-sigma-rel", "0.10", "--out", out.toString());
        assertThat(posthoc.exitCode()).as(posthoc.err()).isZero();
        System.out.print(posthoc.out());

        SnapshotStore store = SnapshotStore.open(run.resolve("posthoc"));
        Path combined = out.resolve("posthoc-sigma0.100.safetensors");
        Path direct = store.pathOf(tracked(store, 0.10, 63));
        java.util.List<String> averaged = store.averaged(store.snapshots());
        double weights = relativeError(combined, direct, averaged::contains);
        // 14 snapshots of 0.05 and 0.15, none of 0.10; the printed error is the one computed here
        assertThat(posthoc.out()).contains("14 snapshots up to step 63", "sigma_rel [0.1] left out",
                String.format(java.util.Locale.ROOT, "relative L2 error %.3e on the averaged parameters", weights));
        assertThat(weights).isLessThan(0.02);
        // the measure tells EMAs apart: the tracked 0.05 and 0.15 lie much farther from 0.10 than the reconstruction
        assertThat(relativeError(store.pathOf(tracked(store, 0.05, 63)), direct, averaged::contains))
                .isGreaterThan(3 * weights);
        assertThat(relativeError(store.pathOf(tracked(store, 0.15, 63)), direct, averaged::contains))
                .isGreaterThan(3 * weights);
        CliRun nothingLeft = CliRun.of("posthoc", "--snapshots", run.resolve("posthoc").toString(), "--sigma-rel",
                "0.10", "--exclude-sigma-rel", "0.05,0.1,0.15", "--out", out.toString());
        assertThat(nothingLeft.err().strip()).isEqualTo("ema4j: --exclude-sigma-rel must leave some snapshots up to"
                + " step 63, was [0.05, 0.1, 0.15]");
        CliRun untracked = CliRun.of("posthoc", "--snapshots", run.resolve("posthoc").toString(), "--sigma-rel",
                "0.10", "--exclude-sigma-rel", "0.07", "--out", out.toString());
        assertThat(untracked.err().strip()).isEqualTo("ema4j: --exclude-sigma-rel must be lengths the snapshots track"
                + " [0.05, 0.1, 0.15], was [0.07]");
    }

    @Test
    void posthocWritesTheReconstructionAndAModelThatEvaluates(@TempDir Path out) throws Exception {
        CliRun posthoc = CliRun.of("posthoc", "--snapshots", run.resolve("posthoc").toString(), "--sigma-rel",
                "0.10,0.12", "--out", out.toString(), "--models", "--bn-batches", "20", "--batch-size", "64",
                "--data", CliRun.SUBSET.toString(), "--train-limit", "2000");
        assertThat(posthoc.exitCode()).as(posthoc.err()).isZero();
        assertThat(posthoc.out()).contains("sigma_rel 0.100").contains("residual").contains("amplification")
                .contains("condition");
        System.out.print(posthoc.out());
        SnapshotStore store = SnapshotStore.open(run.resolve("posthoc"));
        double error = relativeError(out.resolve("posthoc-sigma0.100.safetensors"),
                store.pathOf(tracked(store, 0.10, 63)), store.averaged(store.snapshots())::contains);
        System.out.printf("sigma_rel 0.10 with its own snapshots in the solve: relative error %.3e%n", error);
        assertThat(error).isLessThan(1e-4);

        CliRun evaluate = CliRun.of("evaluate", out.resolve("models-sigma0.120").toString(), "--data",
                CliRun.SUBSET.toString(), "--test-limit", "500");
        assertThat(evaluate.exitCode()).as(evaluate.err()).isZero();
        assertThat(evaluate.out()).containsPattern("EMA\\s+\\d+\\.\\d+\\s+\\d+\\.\\d+%");
        assertThat(posthoc.out()).contains("BatchNorm recalibrated over 20 batches");

        CliRun combinedStatistics = CliRun.of("posthoc", "--snapshots", run.resolve("posthoc").toString(),
                "--sigma-rel", "0.12", "--out", out.resolve("no-bn").toString(), "--models", "--bn-batches", "0");
        assertThat(combinedStatistics.exitCode()).as(combinedStatistics.err()).isZero();
        CliRun evaluateCombined = CliRun.of("evaluate", out.resolve("no-bn/models-sigma0.120").toString(), "--data",
                CliRun.SUBSET.toString(), "--test-limit", "500");
        assertThat(evaluateCombined.exitCode()).as(evaluateCombined.err()).isZero();
        assertThat(evaluateCombined.out()).containsPattern("EMA\\s+\\d+\\.\\d+\\s+\\d+\\.\\d+%");
        System.out.print("sigma_rel 0.12, BatchNorm recalibrated:\n" + evaluate.out()
                + "sigma_rel 0.12, BatchNorm statistics as combined:\n" + evaluateCombined.out());
    }

    @Test
    void sweepPrintsAndPlotsAccuracyAgainstSigmaRelWithReferenceLinesAndNamesTheBest(@TempDir Path out) {
        CliRun sweep = CliRun.of("posthoc", "sweep", "--snapshots", run.resolve("posthoc").toString(),
                "--sigma-rel", "0.01,0.05,0.08,0.12,0.15", "--out", out.toString(), "--bn-batches", "5", "--batch-size",
                "64", "--data", CliRun.SUBSET.toString(), "--train-limit", "2000", "--test-limit", "500");
        assertThat(sweep.exitCode()).as(sweep.err()).isZero();
        System.out.print(sweep.out());
        assertThat(sweep.out()).contains("0.080").contains("raw").contains("run's EMA").contains("best: sigma_rel")
                .contains("amplification").contains("refused: target (sigma_rel 0.0100");
        assertThat(out.resolve("posthoc-sweep.png")).isNotEmptyFile();
        assertThat(out.resolve("posthoc-sweep.csv")).isNotEmptyFile();
    }

    @Test
    void aTargetTheSnapshotsCannotMatchIsRefusedWithTheSolversMessage(@TempDir Path out) {
        CliRun posthoc = CliRun.of("posthoc", "--snapshots", run.resolve("posthoc").toString(), "--sigma-rel",
                "0.28", "--max-residual", "0.001", "--out", out.toString());
        assertThat(posthoc.exitCode()).isEqualTo(2);
        assertThat(posthoc.err()).startsWith("ema4j: target (sigma_rel 0.2800").contains("cannot be matched");
        assertThat(out.resolve("posthoc-sigma0.280.safetensors")).doesNotExist();
    }

    @Test
    void aTargetCanBeGivenByItsExponentInsteadOfItsSigmaRel(@TempDir Path out) throws Exception {
        double gamma = ema4j.core.posthoc.PowerFunctionProfile.gammaFromSigmaRel(0.10);
        CliRun byGamma = CliRun.of("posthoc", "--snapshots", run.resolve("posthoc").toString(), "--gamma",
                Double.toString(gamma), "--out", out.resolve("g").toString());
        assertThat(byGamma.exitCode()).as(byGamma.err()).isZero();
        assertThat(byGamma.out()).contains("sigma_rel 0.100 (gamma 6.937)").contains("vs the EMA tracked directly");
        CliRun bySigma = CliRun.of("posthoc", "--snapshots", run.resolve("posthoc").toString(), "--sigma-rel",
                "0.10", "--out", out.resolve("s").toString());
        assertThat(bySigma.exitCode()).as(bySigma.err()).isZero();
        assertThat(java.nio.file.Files.readAllBytes(out.resolve("g/posthoc-gamma6.937.safetensors")))
                .isEqualTo(java.nio.file.Files.readAllBytes(out.resolve("s/posthoc-sigma0.100.safetensors")));

        CliRun both = CliRun.of("posthoc", "--snapshots", run.resolve("posthoc").toString(), "--gamma", "7",
                "--sigma-rel", "0.1", "--out", out.toString());
        assertThat(both.err().strip()).isEqualTo("ema4j: --sigma-rel or --gamma must name the EMA lengths to"
                + " reconstruct, was both (or use 'ema4j posthoc sweep')");
        CliRun notIntegrable = CliRun.of("posthoc", "--snapshots", run.resolve("posthoc").toString(), "--gamma",
                "-0.7", "--out", out.toString());
        assertThat(notIntegrable.err().strip())
                .isEqualTo("ema4j: --gamma must be > -0.5 (a square-integrable profile), was -0.7");
    }

    @Test
    void aStepBeforeTheFirstSnapshotIsRefused(@TempDir Path out) {
        CliRun posthoc = CliRun.of("posthoc", "--snapshots", run.resolve("posthoc").toString(), "--sigma-rel",
                "0.10", "--step", "5", "--out", out.toString());
        assertThat(posthoc.exitCode()).isEqualTo(2);
        assertThat(posthoc.err().strip()).isEqualTo("ema4j: --step must be >= the first recorded step 10, was 5");
    }
}
