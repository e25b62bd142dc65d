package ema4j.core.posthoc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;
import org.junit.jupiter.api.Test;

class CholeskyTest {

    @Property(tries = 100)
    void theSolutionSatisfiesTheSystemForRandomPositiveDefiniteMatrices(@ForAll @IntRange(min = 1, max = 30) int n,
            @ForAll @LongRange long seed) {
        Random random = new Random(seed);
        double[][] m = new double[n][n];
        for (double[] row : m) {
            for (int j = 0; j < n; j++) {
                row[j] = random.nextGaussian();
            }
        }
        double[][] a = new double[n][n]; // M M^T + n I is well conditioned and positive definite
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                for (int k = 0; k < n; k++) {
                    a[i][j] += m[i][k] * m[j][k];
                }
            }
            a[i][i] += n;
        }
        double[] b = random.doubles(n).toArray();
        double[] x = Cholesky.factor(a).solve(b);
        for (int i = 0; i < n; i++) {
            double ax = 0;
            for (int j = 0; j < n; j++) {
                ax += a[i][j] * x[j];
            }
            assertThat(ax).isCloseTo(b[i], within(1e-10));
        }
    }

    @Test
    void aSingularOrIndefiniteMatrixHasNoFactor() {
        assertThat(Cholesky.factor(new double[][] {{1, 1}, {1, 1}})).isNull();
        assertThat(Cholesky.factor(new double[][] {{1, 2}, {2, 1}})).isNull();
        assertThat(Cholesky.factor(new double[][] {{Double.NaN}})).isNull();
    }

    @Test
    void theHilbertMatrixOfOrderFiveHasItsKnownConditionNumber() {
        double[][] hilbert = new double[5][5];
        for (int i = 0; i < 5; i++) {
            for (int j = 0; j < 5; j++) {
                hilbert[i][j] = 1.0 / (i + j + 1);
            }
        }
        assertThat(Cholesky.factor(hilbert).conditionNumber()).isCloseTo(4.766072502411e5, within(1.0));
    }

    @Property(tries = 300)
    void theConditionNumberOfARotatedDiagonalMatrixIsItsLargestOverItsSmallestEntry(
            @ForAll @IntRange(min = 1, max = 20) int n, @ForAll @LongRange long seed) {
        Random random = new Random(seed);
        double[] diagonal = random.doubles(n, -6, 6).map(Math::exp).sorted().toArray();
        double[][] q = randomOrthogonal(n, random);
        double[][] a = new double[n][n]; // Q D Q^T
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                for (int k = 0; k < n; k++) {
                    a[i][j] += q[i][k] * diagonal[k] * q[j][k];
                }
            }
        }
        double condition = diagonal[n - 1] / diagonal[0];
        assertThat(Cholesky.factor(a).conditionNumber()).isCloseTo(condition, within(1e-3 * condition));
    }

    /** Gram-Schmidt on a random Gaussian matrix. */
    private static double[][] randomOrthogonal(int n, Random random) {
        double[][] q = new double[n][n];
        for (int c = 0; c < n; c++) {
            double[] v = new double[n];
            for (int i = 0; i < n; i++) {
                v[i] = random.nextGaussian();
            }
            for (int p = 0; p < c; p++) {
                double dot = 0;
                for (int i = 0; i < n; i++) {
                    dot += v[i] * q[i][p];
                }
                for (int i = 0; i < n; i++) {
                    v[i] -= dot * q[i][p];
                }
            }
            double norm = 0;
            for (double x : v) {
                norm += x * x;
            }
            for (int i = 0; i < n; i++) {
                q[i][c] = v[i] / Math.sqrt(norm);
            }
        }
        return q;
    }
}
