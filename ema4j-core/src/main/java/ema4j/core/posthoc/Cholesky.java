package ema4j.core.posthoc;

import java.util.Random;
import java.util.function.UnaryOperator;

/**
 * The Cholesky factor {@code L} of a symmetric positive definite matrix, {@code A = L L^T}, the solve with it and an
 * estimate of {@code A}'s condition number. Small and dense: the post-hoc Gram matrix has one row per snapshot.
 * Package-private; JDK only.
 */
final class Cholesky {
    private static final int MAX_ITERATIONS = 20_000;
    private static final double TOLERANCE = 1e-7;

    private final double[][] lower;

    private Cholesky(double[][] lower) {
        this.lower = lower;
    }

    /**
     * Factors {@code a} (only its lower triangle is read), or returns {@code null} when a pivot is not positive:
     * the matrix is singular or indefinite to working precision.
     */
    static Cholesky factor(double[][] a) {
        int n = a.length;
        double[][] l = new double[n][n];
        for (int j = 0; j < n; j++) {
            double pivot = a[j][j];
            for (int k = 0; k < j; k++) {
                pivot -= l[j][k] * l[j][k];
            }
            if (!(pivot > 0)) {
                return null;
            }
            l[j][j] = Math.sqrt(pivot);
            for (int i = j + 1; i < n; i++) {
                double sum = a[i][j];
                for (int k = 0; k < j; k++) {
                    sum -= l[i][k] * l[j][k];
                }
                l[i][j] = sum / l[j][j];
            }
        }
        return new Cholesky(l);
    }

    /** The {@code x} with {@code A x = b}: forward substitution with {@code L}, back substitution with {@code L^T}. */
    double[] solve(double[] b) {
        int n = lower.length;
        double[] y = new double[n];
        for (int i = 0; i < n; i++) {
            double sum = b[i];
            for (int k = 0; k < i; k++) {
                sum -= lower[i][k] * y[k];
            }
            y[i] = sum / lower[i][i];
        }
        double[] x = new double[n];
        for (int i = n - 1; i >= 0; i--) {
            double sum = y[i];
            for (int k = i + 1; k < n; k++) {
                sum -= lower[k][i] * x[k];
            }
            x[i] = sum / lower[i][i];
        }
        return x;
    }

    /**
     * The 2-norm condition number {@code lambda_max / lambda_min} of {@code A}, estimated by power iteration on
     * {@code A = L L^T} and on {@code A^-1} (inverse iteration with this factor). Each Rayleigh quotient approaches its
     * eigenvalue from inside, so the estimate is at most the true value; each stops when its residual says it is
     * within 1e-7 of its eigenvalue (or after 20,000 iterations, where two nearly equal eigenvalues leave it within
     * their small gap). O(n^2) per iteration, where eigenvalues of the full matrix would cost O(n^3).
     */
    double conditionNumber() {
        double largest = largestEigenvalue(this::multiply);
        double smallestInverse = largestEigenvalue(this::solve);
        return largest * smallestInverse;
    }

    /** {@code L L^T v}. */
    private double[] multiply(double[] v) {
        int n = lower.length;
        double[] w = new double[n];
        for (int i = 0; i < n; i++) {
            double sum = 0;
            for (int k = i; k < n; k++) {
                sum += lower[k][i] * v[k];
            }
            w[i] = sum;
        }
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            double sum = 0;
            for (int k = 0; k <= i; k++) {
                sum += lower[i][k] * w[k];
            }
            out[i] = sum;
        }
        return out;
    }

    /**
     * Power iteration for the largest eigenvalue of a symmetric positive definite operator, from a fixed start. Stops
     * when the residual {@code ||A v - rho v||} is below {@code TOLERANCE * rho}: the Rayleigh quotient {@code rho} is
     * then that close to an eigenvalue, and power iteration leaves only the largest. (A stop on a small change of
     * {@code rho} instead can come early when the two largest eigenvalues are close, 1% off.)
     */
    private double largestEigenvalue(UnaryOperator<double[]> operator) {
        int n = lower.length;
        Random random = new Random(n); // deterministic, and not orthogonal to any eigenvector
        double[] v = normalized(random.doubles(n, 0.5, 1.5).toArray());
        double rayleigh = 0;
        for (int iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
            double[] w = operator.apply(v);
            rayleigh = dot(v, w);
            double residual = 0;
            for (int i = 0; i < n; i++) {
                residual += (w[i] - rayleigh * v[i]) * (w[i] - rayleigh * v[i]);
            }
            if (Math.sqrt(residual) <= TOLERANCE * rayleigh) {
                return rayleigh;
            }
            v = normalized(w);
        }
        return rayleigh;
    }

    private static double[] normalized(double[] v) {
        double norm = Math.sqrt(dot(v, v));
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i] / norm;
        }
        return out;
    }

    private static double dot(double[] a, double[] b) {
        double sum = 0;
        for (int i = 0; i < a.length; i++) {
            sum += a[i] * b[i];
        }
        return sum;
    }
}
