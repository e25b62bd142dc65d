package ema4j.core.posthoc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ema4j.core.schedule.PowerFunction;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class ReconstructionTest {

    private static final double[] TRACKED_SIGMA_RELS = {0.05, 0.10};

    /** EDM2's recording: every tracked length, snapshotted every {@code every} steps up to {@code steps}. */
    private static List<PowerFunctionProfile> snapshots(int every, int steps) {
        List<PowerFunctionProfile> snapshots = new ArrayList<>();
        for (int t = every; t <= steps; t += every) {
            for (double sigmaRel : TRACKED_SIGMA_RELS) {
                snapshots.add(PowerFunctionProfile.ofSigmaRel(sigmaRel, t));
            }
        }
        return snapshots;
    }

    @Property(tries = 40)
    void reconstructingATrackedProfileGivesAllWeightToItsSnapshot(@ForAll @IntRange(min = 0, max = 39) int index) {
        List<PowerFunctionProfile> snapshots = snapshots(100, 2000);
        Reconstruction r = Reconstruction.solve(snapshots, snapshots.get(index), 1e-6);
        double[] weights = r.weights();
        for (int i = 0; i < weights.length; i++) {
            assertThat(weights[i]).as("weight %d", i).isCloseTo(i == index ? 1 : 0, within(1e-6));
        }
        assertThat(r.residual()).isLessThan(1e-6);
        assertThat(r.leastSquaresWeightSum()).isCloseTo(1, within(1e-6));
    }

    @Property(tries = 30)
    void theReconstructedProfileIntegratesToOneAndItsResidualIsTheNumericOne(
            @ForAll @DoubleRange(min = 0.04, max = 0.2) double sigmaRel) {
        List<PowerFunctionProfile> snapshots = snapshots(200, 2000);
        PowerFunctionProfile target = PowerFunctionProfile.ofSigmaRel(sigmaRel, 2000);
        Reconstruction r = Reconstruction.solve(snapshots, target, 1.0);
        double[] w = r.weights();
        java.util.function.DoubleUnaryOperator combined = tau -> {
            double sum = 0;
            for (int i = 0; i < w.length; i++) {
                sum += w[i] * snapshots.get(i).densityAt(tau);
            }
            return sum;
        };
        assertThat(piecewiseIntegral(combined, snapshots)).isCloseTo(1, within(1e-9));
        double misfit = piecewiseIntegral(tau -> Math.pow(target.densityAt(tau) - combined.applyAsDouble(tau), 2),
                snapshots);
        double numericResidual = Math.sqrt(misfit / target.innerProduct(target));
        assertThat(r.residual()).isCloseTo(numericResidual, within(1e-6 + 1e-6 * numericResidual));
    }

    /**
     * The integral over [0, last snapshot time] of a combination of profiles, which jumps at every snapshot time:
     * the substituted rule on [0, first time], Simpson's rule between consecutive times, where it is smooth.
     */
    private static double piecewiseIntegral(java.util.function.DoubleUnaryOperator f,
            List<PowerFunctionProfile> snapshots) {
        double[] times = snapshots.stream().mapToDouble(PowerFunctionProfile::t).distinct().sorted().toArray();
        double sum = PowerFunctionProfileTest.integral(f, times[0], 1);
        int intervals = 2000;
        for (int j = 1; j < times.length; j++) {
            double h = (times[j] - times[j - 1]) / intervals;
            double piece = 0;
            for (int i = 0; i <= intervals; i++) {
                // the profiles ending at times[j - 1] belong to the previous piece: step just inside this one
                double tau = i == 0 ? Math.nextUp(times[j - 1]) : times[j - 1] + i * h;
                piece += (i == 0 || i == intervals ? 1 : (i % 2 == 1 ? 4 : 2)) * f.applyAsDouble(tau);
            }
            sum += piece * h / 3;
        }
        return sum;
    }

    @Property(tries = 50)
    void constantWeightsStayConstant(@ForAll @DoubleRange(min = 0.03, max = 0.25) double sigmaRel,
            @ForAll @DoubleRange(min = -1e3, max = 1e3) double weight) {
        PowerFunctionProfile target = PowerFunctionProfile.ofSigmaRel(sigmaRel, 2000);
        Reconstruction r = Reconstruction.solve(snapshots(100, 2000), target, 1);
        double combined = 0;
        for (double w : r.weights()) {
            combined += w * weight;
        }
        assertThat(combined).isCloseTo(weight, within(1e-9 * Math.max(1, Math.abs(weight))));
    }

    /** Error of reconstructing sigmaRel at the last step against the directly tracked EMA, relative to its norm. */
    private static double[] reconstructionErrors(double sigmaRel, int every) {
        int steps = 2000;
        int coordinates = 16;
        Random random = new Random(42);
        double[][] trajectory = new double[steps + 1][coordinates]; // trajectory[s]: the weights after step s
        for (int c = 0; c < coordinates; c++) {
            double start = random.nextGaussian();
            double end = random.nextGaussian();
            double period = 100 + 600 * random.nextDouble();
            double phase = 2 * Math.PI * random.nextDouble();
            for (int s = 1; s <= steps; s++) {
                trajectory[s][c] = end + (start - end) * Math.exp(-s / 400.0)
                        + 0.3 * Math.sin(2 * Math.PI * s / period + phase) + 0.2 * random.nextGaussian();
            }
        }
        List<PowerFunction> emas = new ArrayList<>();
        for (double tracked : TRACKED_SIGMA_RELS) {
            emas.add(PowerFunction.ofSigmaRel(tracked));
        }
        emas.add(PowerFunction.ofSigmaRel(sigmaRel));
        double[][] state = new double[emas.size()][coordinates];
        List<PowerFunctionProfile> profiles = new ArrayList<>();
        List<double[]> values = new ArrayList<>();
        for (int s = 1; s <= steps; s++) {
            for (int e = 0; e < emas.size(); e++) {
                double decay = emas.get(e).decayAt(s - 1);
                for (int c = 0; c < coordinates; c++) {
                    state[e][c] = decay * state[e][c] + (1 - decay) * trajectory[s][c];
                }
            }
            if (s % every == 0) {
                for (int e = 0; e < TRACKED_SIGMA_RELS.length; e++) {
                    profiles.add(new PowerFunctionProfile(emas.get(e).gamma(), s));
                    values.add(state[e].clone());
                }
            }
        }
        Reconstruction r = Reconstruction.solve(profiles, PowerFunctionProfile.ofSigmaRel(sigmaRel, steps), 0.1);
        double[] weights = r.weights();
        double[] direct = state[emas.size() - 1];
        double error = 0;
        double norm = 0;
        double averagingEffect = 0;
        for (int c = 0; c < coordinates; c++) {
            double reconstructed = 0;
            for (int i = 0; i < weights.length; i++) {
                reconstructed += weights[i] * values.get(i)[c];
            }
            error += Math.pow(reconstructed - direct[c], 2);
            norm += direct[c] * direct[c];
            averagingEffect += Math.pow(direct[c] - trajectory[steps][c], 2);
        }
        System.out.printf("sigma_rel %.2f, snapshot every %d: %d snapshots, residual %.2e, condition %.2e, "
                + "error / |ema| %.2e, error / |ema - raw| %.2e%n", sigmaRel, every, profiles.size(), r.residual(),
                r.conditionNumber(), Math.sqrt(error / norm), Math.sqrt(error / averagingEffect));
        return new double[] {Math.sqrt(error / norm), Math.sqrt(error / averagingEffect)};
    }

    @Test
    void snapshotsOfTwoTrackedLengthsReproduceAThirdTrackedDirectly() {
        for (double sigmaRel : new double[] {0.07, 0.15}) {
            double[] errors = reconstructionErrors(sigmaRel, 100);
            assertThat(errors[0]).as("relative error for sigma_rel %s", sigmaRel).isLessThan(1e-2);
            assertThat(errors[1]).as("error relative to the averaging effect for %s", sigmaRel).isLessThan(5e-2);
        }
    }

    @Test
    void denserSnapshotsReconstructMoreAccurately() {
        double sparse = reconstructionErrors(0.15, 400)[0];
        double medium = reconstructionErrors(0.15, 100)[0];
        double dense = reconstructionErrors(0.15, 25)[0];
        assertThat(medium).isLessThan(sparse);
        assertThat(dense).isLessThan(medium);
    }

    @Test
    void duplicateSnapshotsAreRefusedAsSingular() {
        List<PowerFunctionProfile> snapshots = new ArrayList<>(snapshots(100, 1000));
        snapshots.add(snapshots.get(3));
        assertThatThrownBy(() -> Reconstruction.solve(snapshots, PowerFunctionProfile.ofSigmaRel(0.07, 1000), 0.1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("target (sigma_rel 0.0700, gamma 11.")
                .hasMessageContaining(", t 1000) cannot be matched")
                .hasMessageContaining("cannot be matched from these 21 snapshots: their profiles are")
                .hasMessageContaining("linearly dependent")
                .hasMessageContaining("drop duplicate snapshots");
    }

    @Test
    void nearlyDependentSnapshotsAreRefusedWithTheirConditionNumber() {
        // a profile ends in a jump, so moving its end by dt changes it by sqrt(dt): condition ~ 4e2 * t / dt here
        PowerFunctionProfile target = PowerFunctionProfile.ofSigmaRel(0.07, 1000);
        assertThatThrownBy(() -> Reconstruction.solve(nearlyRepeated(1e-10), target, 0.1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cannot be matched from these 3 snapshots")
                .hasMessageContaining("nearly linearly dependent (condition number")
                .hasMessageContaining("exceeds 1.00e+12");
        assertThat(Reconstruction.solve(nearlyRepeated(1e-4), target, 1).conditionNumber()).isBetween(1e6, 1e7);
        assertThatThrownBy(() -> Reconstruction.solve(nearlyRepeated(1e-4), target, 1, 1e6))
                .hasMessageContaining("exceeds 1.00e+06");
    }

    private static List<PowerFunctionProfile> nearlyRepeated(double dt) {
        return List.of(new PowerFunctionProfile(6.94, 1000), new PowerFunctionProfile(6.94, 1000 + dt),
                new PowerFunctionProfile(16.97, 1000));
    }

    @Test
    void targetsBeyondTheLastSnapshotOrOutsideTheTrackedRangeAreRefusedWithTheResidual() {
        List<PowerFunctionProfile> snapshots = snapshots(100, 2000);
        assertThatThrownBy(() -> Reconstruction.solve(snapshots, PowerFunctionProfile.ofSigmaRel(0.07, 3000), 0.05))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cannot be matched from these 40 snapshots: the relative residual is")
                .hasMessageContaining("above maxResidual 0.0500; choose a target at a recorded step (t <= 2000)"
                        + " with sigma_rel within the tracked range [0.0500, 0.1000], or record snapshots more often");
        assertThatThrownBy(() -> Reconstruction.solve(snapshots, PowerFunctionProfile.ofSigmaRel(0.01, 2000), 0.05))
                .hasMessageContaining("the relative residual is");
    }

    /** Three lengths every 100 steps up to 1800 and at 1876, as docs/posthoc.sh records on Fashion-MNIST. */
    private static List<PowerFunctionProfile> threeLengths() {
        List<PowerFunctionProfile> profiles = new java.util.ArrayList<>();
        for (long t = 100; t <= 1900; t += 100) {
            for (double sigmaRel : new double[] {0.05, 0.10, 0.15}) {
                profiles.add(PowerFunctionProfile.ofSigmaRel(sigmaRel, Math.min(t, 1876)));
            }
        }
        return profiles;
    }

    @Test
    void weightsThatCancelAreReportedAndRefusedAboveTheBound() {
        List<PowerFunctionProfile> snapshots = threeLengths();
        PowerFunctionProfile narrow = PowerFunctionProfile.ofSigmaRel(0.02, 1876);
        // the profile residual is small, but the weights are +-100 multiples of neighbouring snapshots
        Reconstruction r = Reconstruction.solve(snapshots, narrow, 0.05);
        assertThat(r.residual()).isLessThan(0.05);
        assertThat(r.amplification()).isBetween(100.0, Reconstruction.DEFAULT_MAX_AMPLIFICATION);
        assertThat(r.amplification()).isEqualTo(Arrays.stream(r.weights()).map(Math::abs).sum());
        assertThatThrownBy(() -> Reconstruction.solve(snapshots, narrow, 0.05, 1e12, 100))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("the weights cancel (their absolute values sum to")
                .hasMessageContaining("above maxAmplification 100) and would magnify the differences between"
                        + " snapshots; choose a longer target (the tracked range is [0.0500, 0.1500]) or record"
                        + " snapshots more often");
        Reconstruction inside = Reconstruction.solve(snapshots, PowerFunctionProfile.ofSigmaRel(0.07, 1876), 0.05);
        assertThat(inside.amplification()).isBetween(1.0, 5.0);
        assertThatThrownBy(() -> Reconstruction.solve(snapshots, narrow, 0.05, 1e12, 0.5))
                .hasMessage("maxAmplification must be >= 1, was 0.5");
    }

    @Test
    void aTrackedTargetHasAmplificationOne() {
        List<PowerFunctionProfile> snapshots = threeLengths();
        Reconstruction r = Reconstruction.solve(snapshots, snapshots.get(snapshots.size() - 2), 1e-6);
        assertThat(r.amplification()).isCloseTo(1.0, within(1e-6));
    }

    @Test
    void invalidArgumentsAreRejectedWithTheirValue() {
        PowerFunctionProfile target = PowerFunctionProfile.ofSigmaRel(0.07, 100);
        assertThatThrownBy(() -> Reconstruction.solve(List.of(), target, 0.1))
                .hasMessage("snapshots must be non-empty, was []");
        assertThatThrownBy(() -> Reconstruction.solve(snapshots(100, 100), target, Double.NaN))
                .hasMessage("maxResidual must be >= 0, was NaN");
        assertThatThrownBy(() -> Reconstruction.solve(List.of(new PowerFunctionProfile(-0.6, 100)), target, 0.1))
                .hasMessageStartingWith("snapshot gamma must be > -0.5 (square-integrable), was PowerFunctionProfile{");
    }

    @Test
    void theRecordIsImmutable() {
        Reconstruction r = Reconstruction.solve(snapshots(100, 200), PowerFunctionProfile.ofSigmaRel(0.05, 200), 1e-6);
        r.weights()[0] = 42;
        assertThat(r.weights()[0]).isNotEqualTo(42);
    }
}
