package ema4j.demo.metric;

import static ema4j.core.internal.Preconditions.requireArgument;

/**
 * The mean and covariance of a set of feature vectors: the Gaussian that {@link FrechetDistance} compares. Compute
 * the statistics of a reference set once and compare many sample sets with it.
 *
 * <p>The covariance is the unbiased one (divided by n - 1), as {@code numpy.cov} and the reference FID code compute
 * it. Immutable and thread-safe; the accessors return copies.
 */
public final class FeatureStatistics {
    final double[] mean;
    final double[][] covariance;
    private final int count;

    private FeatureStatistics(double[] mean, double[][] covariance, int count) {
        this.mean = mean;
        this.covariance = covariance;
        this.count = count;
    }

    /**
     * Computes the statistics of {@code features}, one vector per row.
     *
     * @param features at least two rows, all of the same length, at least 1
     * @return the mean and covariance of the rows
     * @throws IllegalArgumentException if there are fewer than two rows or the rows differ in length
     */
    public static FeatureStatistics of(double[][] features) {
        return of(features, "features");
    }

    /** The same, naming the argument {@code name} in a refusal. */
    static FeatureStatistics of(double[][] features, String name) {
        requireArgument(features != null, name, "non-null", null);
        requireArgument(features.length >= 2, name, "at least 2 feature vectors (a covariance needs two)",
                features.length);
        int dimension = features[0].length;
        requireArgument(dimension >= 1, name + "[0] length", ">= 1", dimension);
        double[] mean = new double[dimension];
        for (int i = 0; i < features.length; i++) {
            requireArgument(features[i].length == dimension, name + "[" + i + "] length",
                    dimension + " (the length of " + name + "[0])", features[i].length);
            for (int j = 0; j < dimension; j++) {
                mean[j] += features[i][j];
            }
        }
        for (int j = 0; j < dimension; j++) {
            mean[j] /= features.length;
        }
        double[][] covariance = new double[dimension][dimension];
        double[] centered = new double[dimension];
        for (double[] row : features) {
            for (int j = 0; j < dimension; j++) {
                centered[j] = row[j] - mean[j];
            }
            for (int j = 0; j < dimension; j++) {
                for (int k = j; k < dimension; k++) {
                    covariance[j][k] += centered[j] * centered[k];
                }
            }
        }
        for (int j = 0; j < dimension; j++) {
            for (int k = j; k < dimension; k++) {
                covariance[j][k] /= features.length - 1;
                covariance[k][j] = covariance[j][k];
            }
        }
        return new FeatureStatistics(mean, covariance, features.length);
    }

    /**
     * Returns the length of the feature vectors.
     *
     * @return the dimension, at least 1
     */
    public int dimension() {
        return mean.length;
    }

    /**
     * Returns how many vectors the statistics were computed from.
     *
     * @return at least 2
     */
    public int count() {
        return count;
    }

    /**
     * Returns the mean vector.
     *
     * @return a copy, of length {@link #dimension()}
     */
    public double[] mean() {
        return mean.clone();
    }

    /**
     * Returns the covariance matrix.
     *
     * @return a symmetric copy, {@link #dimension()} rows of {@link #dimension()}
     */
    public double[][] covariance() {
        double[][] copy = new double[covariance.length][];
        for (int i = 0; i < copy.length; i++) {
            copy[i] = covariance[i].clone();
        }
        return copy;
    }

    /** Prints the dimension and the count, not the numbers. */
    @Override
    public String toString() {
        return "FeatureStatistics[dimension=" + dimension() + ", count=" + count + "]";
    }
}
