package ema4j.demo.metric;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.Size;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.CholeskyDecomposition;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.RealMatrix;
import org.junit.jupiter.api.Test;

class FrechetDistanceTest {
    @Test
    void aSetIsAtDistanceZeroFromItself() {
        double[][] features = gaussian(new Random(1), 200, 16);

        double distance = FrechetDistance.squared(features, features);

        double scale = trace(FeatureStatistics.of(features).covariance());
        assertThat(distance).isCloseTo(0, within(1e-9 * scale));
    }

    @Test
    void diagonalGaussiansMatchTheClosedForm() {
        double[] mean1 = {0, 1, 2};
        double[] mean2 = {1, 1, 0};
        double[] variances1 = {1, 4, 9};
        double[] variances2 = {4, 1, 2};

        double distance = FrechetDistance.squared(samplesWith(mean1, diagonal(variances1), 50),
                samplesWith(mean2, diagonal(variances2), 80));

        assertThat(distance).isCloseTo(closedForm(mean1, variances1, mean2, variances2), within(1e-9));
    }

    @Test
    void commutingCovariancesMatchTheClosedFormOfTheirEigenvalues() {
        double[] mean1 = {3, -1};
        double[] mean2 = {0, 0};
        double angle = 0.7;
        RealMatrix rotation = new Array2DRowRealMatrix(new double[][] {
            {Math.cos(angle), -Math.sin(angle)}, {Math.sin(angle), Math.cos(angle)}});
        double[] eigenvalues1 = {5, 0.5};
        double[] eigenvalues2 = {2, 3};
        RealMatrix covariance1 = rotated(rotation, eigenvalues1);
        RealMatrix covariance2 = rotated(rotation, eigenvalues2);

        double distance = FrechetDistance.squared(samplesWith(mean1, covariance1, 40),
                samplesWith(mean2, covariance2, 40));

        assertThat(distance).isCloseTo(closedForm(mean1, eigenvalues1, mean2, eigenvalues2), within(1e-9));
    }

    @Property(tries = 30)
    void diagonalGaussiansMatchTheClosedFormWhateverTheVariances(
            @ForAll @Size(3) List<@DoubleRange(min = 0.01, max = 100) Double> firstVariances,
            @ForAll @Size(3) List<@DoubleRange(min = 0.01, max = 100) Double> secondVariances,
            @ForAll @Size(3) List<@DoubleRange(min = -10, max = 10) Double> secondMean) {
        double[] mean1 = {0, 0, 0};
        double[] mean2 = secondMean.stream().mapToDouble(Double::doubleValue).toArray();
        double[] variances1 = firstVariances.stream().mapToDouble(Double::doubleValue).toArray();
        double[] variances2 = secondVariances.stream().mapToDouble(Double::doubleValue).toArray();

        double distance = FrechetDistance.squared(samplesWith(mean1, diagonal(variances1), 30),
                samplesWith(mean2, diagonal(variances2), 30));

        double expected = closedForm(mean1, variances1, mean2, variances2);
        assertThat(distance).isCloseTo(expected, within(1e-8 * (1 + expected)));
    }

    @Test
    void theDistanceIsSymmetric() {
        double[][] first = gaussian(new Random(2), 100, 8);
        double[][] second = gaussian(new Random(3), 60, 8);
        for (double[] row : second) {
            row[0] = 2 * row[0] + row[1];
        }

        double there = FrechetDistance.squared(first, second);
        double back = FrechetDistance.squared(second, first);

        assertThat(back).isCloseTo(there, within(1e-9 * there));
    }

    @Test
    void fewerVectorsThanDimensionsStillGiveAFiniteDistance() {
        double[][] first = gaussian(new Random(4), 5, 20);
        double[][] second = gaussian(new Random(5), 5, 20);

        assertThat(FrechetDistance.squared(first, second)).isFinite().isPositive();
    }

    @Test
    void featuresThatAreAlwaysZeroLeaveTheDistanceOfTheOthers() {
        // dead ReLU units of a classifier: here 112 of 128 features are 0 in every image, which made the
        // eigen-decomposition of the full covariance fail to converge
        Random random = new Random(3);
        int[] live = random.ints(0, 128).distinct().limit(16).sorted().toArray();
        double[][] first = new double[250][128];
        double[][] second = new double[300][128];
        double[][] firstLive = new double[250][live.length];
        double[][] secondLive = new double[300][live.length];
        for (double[][][] sets : new double[][][][] {{first, firstLive}, {second, secondLive}}) {
            for (int i = 0; i < sets[0].length; i++) {
                for (int j = 0; j < live.length; j++) {
                    double value = Math.max(0, random.nextGaussian() * (1 + j) + (sets[0] == second ? 0.5 : 0));
                    sets[0][i][live[j]] = value;
                    sets[1][i][j] = value;
                }
            }
        }

        double distance = FrechetDistance.squared(first, second);

        assertThat(distance).isPositive().isCloseTo(FrechetDistance.squared(firstLive, secondLive), within(1e-9));
    }

    @Test
    void setsOfDifferentDimensionsAreRefused() {
        assertThatThrownBy(() -> FrechetDistance.squared(gaussian(new Random(1), 4, 3), gaussian(new Random(1), 4, 2)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("dimension of second must be the dimension of first (3), was 2");
    }

    @Test
    void aSingleVectorIsRefused() {
        assertThatThrownBy(() -> FrechetDistance.squared(new double[][] {{1, 2}}, gaussian(new Random(1), 4, 2)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("first must be at least 2 feature vectors (a covariance needs two), was 1");
    }

    @Test
    void rowsOfDifferentLengthsAreRefused() {
        assertThatThrownBy(() -> FeatureStatistics.of(new double[][] {{1, 2}, {3, 4}, {5}}))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("features[2] length must be 2 (the length of features[0]), was 1");
    }

    /** d^2 of two Gaussians with diagonal (or commonly diagonalized) covariances: sum (sqrt(a) - sqrt(b))^2. */
    private static double closedForm(double[] mean1, double[] variances1, double[] mean2, double[] variances2) {
        double sum = 0;
        for (int i = 0; i < mean1.length; i++) {
            double root = Math.sqrt(variances1[i]) - Math.sqrt(variances2[i]);
            sum += (mean1[i] - mean2[i]) * (mean1[i] - mean2[i]) + root * root;
        }
        return sum;
    }

    /**
     * {@code n} vectors whose sample mean and covariance are exactly {@code mean} and {@code covariance} (up to
     * rounding): Gaussian draws, centred, whitened by their own covariance, coloured by the target's.
     */
    private static double[][] samplesWith(double[] mean, RealMatrix covariance, int n) {
        RealMatrix draws = MatrixUtils.createRealMatrix(gaussian(new Random(n), n, mean.length));
        RealMatrix centred = centred(draws);
        RealMatrix own = centred.transpose().multiply(centred).scalarMultiply(1.0 / (n - 1));
        RealMatrix whitening = MatrixUtils.inverse(new CholeskyDecomposition(own).getLT());
        RealMatrix colouring = new CholeskyDecomposition(covariance).getLT();
        double[][] samples = centred.multiply(whitening).multiply(colouring).getData();
        for (double[] row : samples) {
            for (int j = 0; j < mean.length; j++) {
                row[j] += mean[j];
            }
        }
        return samples;
    }

    private static RealMatrix centred(RealMatrix draws) {
        RealMatrix centred = draws.copy();
        for (int j = 0; j < draws.getColumnDimension(); j++) {
            double columnMean = 0;
            for (int i = 0; i < draws.getRowDimension(); i++) {
                columnMean += draws.getEntry(i, j) / draws.getRowDimension();
            }
            for (int i = 0; i < draws.getRowDimension(); i++) {
                centred.addToEntry(i, j, -columnMean);
            }
        }
        return centred;
    }

    private static RealMatrix diagonal(double[] variances) {
        return MatrixUtils.createRealDiagonalMatrix(variances);
    }

    private static RealMatrix rotated(RealMatrix rotation, double[] eigenvalues) {
        RealMatrix matrix = rotation.multiply(diagonal(eigenvalues)).multiply(rotation.transpose());
        return matrix.add(matrix.transpose()).scalarMultiply(0.5);
    }

    private static double[][] gaussian(Random random, int n, int dimension) {
        double[][] rows = new double[n][dimension];
        for (double[] row : rows) {
            for (int j = 0; j < dimension; j++) {
                row[j] = random.nextGaussian();
            }
        }
        return rows;
    }

    private static double trace(double[][] matrix) {
        double trace = 0;
        for (int i = 0; i < matrix.length; i++) {
            trace += matrix[i][i];
        }
        return trace;
    }
}
