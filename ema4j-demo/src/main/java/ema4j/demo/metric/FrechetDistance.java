package ema4j.demo.metric;

import static ema4j.core.internal.Preconditions.requireArgument;

import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.MatrixUtils;
import org.apache.commons.math3.linear.RealMatrix;

/**
 * The squared Fréchet distance between two sets of feature vectors, each summarized by a Gaussian (Dowson and Landau
 * 1982): {@code d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))}, the number that FID reports (Heusel et al.
 * 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash Equilibrium").
 *
 * <p>Here the features are those of a small Fashion-MNIST classifier (see {@link ClassifierFeatures}), not of
 * Inception-v3: the numbers rank models against each other on this data, and are not comparable with published FIDs.
 *
 * <p>{@code Tr((S1 S2)^(1/2))} is computed as the sum of the square roots of the eigenvalues of the symmetric
 * positive semi-definite {@code S1^(1/2) S2 S1^(1/2)}, which has the same eigenvalues as {@code S1 S2}; both
 * eigen-decompositions are symmetric ones (Apache Commons Math), with eigenvalues below 0 from rounding taken as 0.
 * This stays real and stable for singular covariances (fewer vectors than dimensions), where the general matrix
 * square root of {@code S1 S2} is not. Features of zero variance (a classifier's never-active units) are left out of
 * the decompositions, where they contribute exactly nothing. The result is clamped at 0. Stateless and thread-safe.
 */
public final class FrechetDistance {
    private FrechetDistance() {}

    /**
     * Returns the squared Fréchet distance between the Gaussians fitted to two sets of feature vectors.
     *
     * @param first one vector per row, at least two rows
     * @param second one vector per row, at least two rows, of the length of the first's
     * @return d^2, at least 0, in squared feature units
     * @throws IllegalArgumentException if a set has fewer than two rows, rows of different lengths, or the two sets
     *     differ in dimension
     */
    public static double squared(double[][] first, double[][] second) {
        return squared(FeatureStatistics.of(first, "first"), FeatureStatistics.of(second, "second"));
    }

    /**
     * Returns the squared Fréchet distance between two Gaussians given by their statistics.
     *
     * @param first the mean and covariance of one set
     * @param second the mean and covariance of the other, of the same dimension
     * @return d^2, at least 0, in squared feature units
     * @throws IllegalArgumentException if the dimensions differ
     */
    public static double squared(FeatureStatistics first, FeatureStatistics second) {
        requireArgument(first != null, "first", "non-null", null);
        requireArgument(second != null, "second", "non-null", null);
        requireArgument(second.dimension() == first.dimension(), "dimension of second",
                "the dimension of first (" + first.dimension() + ")", second.dimension());
        double meanTerm = 0;
        for (int i = 0; i < first.dimension(); i++) {
            double difference = first.mean[i] - second.mean[i];
            meanTerm += difference * difference;
        }
        RealMatrix s1 = MatrixUtils.createRealMatrix(first.covariance);
        RealMatrix s2 = MatrixUtils.createRealMatrix(second.covariance);
        // S1^(1/2) is 0 outside S1's support, so S1^(1/2) S2 S1^(1/2) is too: both live on that support
        int[] support = support(s1);
        double traceOfRoot = 0;
        if (support.length > 0) {
            RealMatrix sqrtS1 = symmetricSquareRoot(s1.getSubMatrix(support, support));
            for (double eigenvalue : symmetricEigenvalues(sqrtS1.multiply(s2.getSubMatrix(support, support))
                    .multiply(sqrtS1))) {
                traceOfRoot += Math.sqrt(Math.max(eigenvalue, 0));
            }
        }
        return Math.max(0, meanTerm + s1.getTrace() + s2.getTrace() - 2 * traceOfRoot);
    }

    /** The symmetric positive semi-definite square root of a covariance: V diag(sqrt(max(lambda, 0))) V^T. */
    private static RealMatrix symmetricSquareRoot(RealMatrix covariance) {
        EigenDecomposition eigen = new EigenDecomposition(symmetrized(covariance));
        double[] roots = eigen.getRealEigenvalues().clone();
        for (int i = 0; i < roots.length; i++) {
            roots[i] = Math.sqrt(Math.max(roots[i], 0));
        }
        RealMatrix vectors = eigen.getV();
        return vectors.multiply(MatrixUtils.createRealDiagonalMatrix(roots)).multiply(vectors.transpose());
    }

    /** The eigenvalues of a positive semi-definite matrix: those of its support, and zeros left out. */
    private static double[] symmetricEigenvalues(RealMatrix matrix) {
        int[] support = support(matrix);
        return support.length == 0 ? new double[0]
                : new EigenDecomposition(symmetrized(matrix.getSubMatrix(support, support))).getRealEigenvalues();
    }

    /**
     * The indices whose diagonal entry is positive: outside them a positive semi-definite matrix is 0 (a row with a
     * zero variance has zero covariances), and leaving those rows out keeps Commons Math's eigen-decomposition
     * converging; it fails on covariances with many such rows, as a classifier's never-active ReLU units give.
     */
    private static int[] support(RealMatrix matrix) {
        return java.util.stream.IntStream.range(0, matrix.getRowDimension()).filter(i -> matrix.getEntry(i, i) > 0)
                .toArray();
    }

    /** (M + M^T) / 2: exactly symmetric, so that Commons Math takes its symmetric algorithm. */
    private static RealMatrix symmetrized(RealMatrix matrix) {
        return matrix.add(matrix.transpose()).scalarMultiply(0.5);
    }
}
