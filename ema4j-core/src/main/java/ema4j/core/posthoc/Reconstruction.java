package ema4j.core.posthoc;

import static ema4j.core.internal.Preconditions.requireArgument;

import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Post-hoc EMA: the weights that combine recorded snapshots into the EMA of a length chosen after training (Karras et
 * al., 2024, "Analyzing and Improving the Training Dynamics of Diffusion Models", Section 3.2 and Appendix C;
 * NVlabs/edm2 {@code solve_posthoc_coefficients}).
 *
 * <p>Each snapshot {@code i} is a power-function EMA with profile {@code p_i}; the target profile {@code p_r} is
 * approximated by {@code sum_i x_i p_i} in the least-squares sense over the training time, which is the linear system
 * {@code A x = b} with {@code A_ij = <p_i, p_j>} and {@code b_i = <p_i, p_r>} (closed form, see
 * {@link PowerFunctionProfile#innerProduct(double, double, double, double)}). The reconstructed weights are then
 * {@code sum_i weights[i] * snapshot_i}, pairing {@code weights[i]} with {@code snapshots.get(i)}.
 *
 * <p>The solve scales each profile to unit norm first ({@code A}'s diagonal becomes 1), factors with Cholesky and
 * reports the 2-norm condition number of that scaled matrix, estimated by power iteration: it measures how nearly the
 * snapshots' profiles are linearly dependent, independent of how far apart their times are. EDM2 uses the raw
 * least-squares solution; ema4j follows ANCHORS and divides it by its sum, so the reconstructed profile integrates to
 * 1 exactly and constant weights stay constant. The raw solution and its sum stay available
 * ({@link #leastSquaresWeights()}, {@link #leastSquaresWeightSum()}); a good match has a sum close to 1.
 *
 * <p>{@link #amplification()} is {@code sum_i |weights[i]|}: 1 when every weight is positive, large when the solve
 * cancels big positive and negative multiples of nearby snapshots (targets shorter than the snapshot interval
 * resolves). The profile residual cannot see that, but the combined weights can: whatever in the snapshots is not
 * the power-function EMA the profile describes is multiplied by up to that factor. For tensors that are true EMAs
 * that is only their float32 rounding, about 6e-8 relative, so the default bound {@link #DEFAULT_MAX_AMPLIFICATION}
 * keeps it near 1e-4; measured on Fashion-MNIST (docs/RESULTS.md), sigma_rel 0.02 with weights of +-122
 * (amplification 430) still evaluated like its neighbours. A tensor that is not an EMA in every snapshot (a copied
 * one) is another matter: a mix of its live values with weights of +-122 is noise, which is why post-hoc EMAs
 * average every parameter but the running statistics.
 *
 * <p>{@link #residual()} is {@code ||p_r - sum_i weights[i] p_i|| / ||p_r||} in L2 over the training time, of the
 * normalised weights, computed from the inner products ({@code ||p_r||^2 - 2 x.b + x.A.x}); cancellation puts a floor
 * of about 1e-8 under it. Snapshots taken after the target time cannot help much (their profiles extend beyond it)
 * and only worsen the conditioning; EDM2 passes those with {@code t <= target.t()} only.
 *
 * @param snapshots the recorded profiles, in the order of {@link #weights()}
 * @param target the profile reconstructed
 * @param weights the normalised weights, summing to 1, one per snapshot
 * @param leastSquaresWeights the solution of {@code A x = b} before normalisation
 * @param residual the relative L2 distance between the target profile and the normalised combination, {@code >= 0}
 * @param conditionNumber the 2-norm condition number of {@code A} scaled to unit diagonal, {@code >= 1}
 */
public record Reconstruction(List<PowerFunctionProfile> snapshots, PowerFunctionProfile target, double[] weights,
        double[] leastSquaresWeights, double residual, double conditionNumber) {

    /** The largest condition number {@link #solve(List, PowerFunctionProfile, double)} accepts. */
    public static final double DEFAULT_MAX_CONDITION_NUMBER = 1e12;

    /** The largest {@link #amplification()} {@link #solve(List, PowerFunctionProfile, double)} accepts. */
    public static final double DEFAULT_MAX_AMPLIFICATION = 1000;

    /** Checks there is one weight per snapshot and copies the arrays and the list, so the record stays immutable. */
    public Reconstruction {
        snapshots = List.copyOf(snapshots);
        requireArgument(weights.length == snapshots.size() && leastSquaresWeights.length == snapshots.size(),
                "weights and leastSquaresWeights", "one per snapshot (" + snapshots.size() + ")",
                weights.length + " and " + leastSquaresWeights.length);
        weights = weights.clone();
        leastSquaresWeights = leastSquaresWeights.clone();
    }

    /**
     * Solves for the snapshot weights that reproduce {@code target}, refusing badly conditioned systems (condition
     * number above {@link #DEFAULT_MAX_CONDITION_NUMBER}), weights that amplify (above
     * {@link #DEFAULT_MAX_AMPLIFICATION}) and poor matches.
     *
     * @see #solve(List, PowerFunctionProfile, double, double, double)
     */
    public static Reconstruction solve(List<PowerFunctionProfile> snapshots, PowerFunctionProfile target,
            double maxResidual) {
        return solve(snapshots, target, maxResidual, DEFAULT_MAX_CONDITION_NUMBER, DEFAULT_MAX_AMPLIFICATION);
    }

    /**
     * Solves as {@link #solve(List, PowerFunctionProfile, double, double, double)} with the default largest
     * amplification.
     */
    public static Reconstruction solve(List<PowerFunctionProfile> snapshots, PowerFunctionProfile target,
            double maxResidual, double maxConditionNumber) {
        return solve(snapshots, target, maxResidual, maxConditionNumber, DEFAULT_MAX_AMPLIFICATION);
    }

    /**
     * Solves for the snapshot weights that reproduce {@code target}.
     *
     * @param snapshots the recorded profiles, at least one, each with {@code gamma > -0.5} (square-integrable)
     * @param target the profile wanted, {@code gamma > -0.5}
     * @param maxResidual the largest acceptable {@link #residual()}, {@code >= 0} (e.g. 0.05)
     * @param maxConditionNumber the largest acceptable {@link #conditionNumber()}, {@code >= 1}
     * @param maxAmplification the largest acceptable {@link #amplification()}, {@code >= 1}
     * @throws IllegalArgumentException when an argument is invalid, or when the target cannot be matched from these
     *     snapshots: their profiles are (nearly) linearly dependent, the residual exceeds {@code maxResidual}, or the
     *     weights amplify more than {@code maxAmplification}; the message says which and what to do
     */
    public static Reconstruction solve(List<PowerFunctionProfile> snapshots, PowerFunctionProfile target,
            double maxResidual, double maxConditionNumber, double maxAmplification) {
        requireArgument(snapshots != null && !snapshots.isEmpty(), "snapshots", "non-empty", snapshots);
        requireArgument(target != null, "target", "non-null", target);
        requireArgument(maxResidual >= 0, "maxResidual", ">= 0", maxResidual);
        requireArgument(maxConditionNumber >= 1, "maxConditionNumber", ">= 1", maxConditionNumber);
        requireArgument(maxAmplification >= 1, "maxAmplification", ">= 1", maxAmplification);
        for (PowerFunctionProfile snapshot : snapshots) {
            requireArgument(snapshot.gamma() > -0.5, "snapshot gamma", "> -0.5 (square-integrable)", snapshot);
        }
        requireArgument(target.gamma() > -0.5, "target gamma", "> -0.5 (square-integrable)", target);

        double[][] gram = gramMatrix(snapshots);
        double[] unitScale = unitNormScale(gram);
        double[][] scaledGram = scaleSymmetric(gram, unitScale);
        Cholesky cholesky = Cholesky.factor(scaledGram);
        double conditionNumber = cholesky == null ? Double.POSITIVE_INFINITY : cholesky.conditionNumber();
        if (!(conditionNumber <= maxConditionNumber)) {
            throw new IllegalArgumentException(cannotMatch(snapshots, target) + "their profiles are "
                    + (Double.isInfinite(conditionNumber) ? "linearly dependent (singular Gram matrix)"
                            : "nearly linearly dependent (condition number " + format(conditionNumber) + " exceeds "
                                    + format(maxConditionNumber) + ")")
                    + "; drop duplicate snapshots (same gamma and step) and thin out snapshots recorded only a few"
                    + " steps apart");
        }
        double[] projections = projections(snapshots, target);
        double[] leastSquaresWeights = multiply(unitScale, cholesky.solve(multiply(unitScale, projections)));
        double sum = Arrays.stream(leastSquaresWeights).sum();
        double[] weights = Arrays.stream(leastSquaresWeights).map(x -> x / sum).toArray();
        double residual = sum > 0
                ? relativeResidual(gram, projections, target.innerProduct(target), weights)
                : Double.POSITIVE_INFINITY;
        if (!(residual <= maxResidual)) {
            throw new IllegalArgumentException(cannotMatch(snapshots, target) + "the relative residual is "
                    + format(residual) + " (least-squares weights sum to " + format(sum) + "), above maxResidual "
                    + format(maxResidual) + "; choose a target at a recorded step (t <= "
                    + time(latestTime(snapshots)) + ") with sigma_rel within the tracked range "
                    + trackedSigmaRelRange(snapshots) + ", or record snapshots more often");
        }
        double amplification = Arrays.stream(weights).map(Math::abs).sum();
        if (!(amplification <= maxAmplification)) {
            throw new IllegalArgumentException(cannotMatch(snapshots, target) + "the weights cancel (their absolute"
                    + " values sum to " + format(amplification) + ", above maxAmplification " + format(maxAmplification)
                    + ") and would magnify the differences between snapshots; choose a longer target (the tracked"
                    + " range is " + trackedSigmaRelRange(snapshots) + ") or record snapshots more often");
        }
        return new Reconstruction(snapshots, target, weights, leastSquaresWeights, residual, conditionNumber);
    }

    /**
     * {@code sum_i |weights[i]|}: how much the combination can magnify differences between the snapshots that their
     * profiles do not model; 1 when no weight is negative.
     */
    public double amplification() {
        return Arrays.stream(weights).map(Math::abs).sum();
    }

    /** The normalised weights, one per snapshot, summing to 1 (a copy). */
    @Override
    public double[] weights() {
        return weights.clone();
    }

    /** The raw solution of {@code A x = b}, one per snapshot (a copy). */
    @Override
    public double[] leastSquaresWeights() {
        return leastSquaresWeights.clone();
    }

    /** The sum of the raw least-squares weights: the integral of their combination, near 1 for a good match. */
    public double leastSquaresWeightSum() {
        return Arrays.stream(leastSquaresWeights).sum();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Reconstruction r && r.snapshots.equals(snapshots) && r.target.equals(target)
                && Arrays.equals(r.weights, weights) && Arrays.equals(r.leastSquaresWeights, leastSquaresWeights)
                && Double.compare(r.residual, residual) == 0 && Double.compare(r.conditionNumber, conditionNumber) == 0;
    }

    @Override
    public int hashCode() {
        return 31 * (31 * snapshots.hashCode() + target.hashCode()) + Arrays.hashCode(weights);
    }

    @Override
    public String toString() {
        return "Reconstruction{target=" + target + ", snapshots=" + snapshots.size() + ", weights="
                + Arrays.toString(weights) + ", leastSquaresWeightSum=" + leastSquaresWeightSum() + ", residual="
                + residual + ", conditionNumber=" + conditionNumber + "}";
    }

    /** {@code A_ij = <p_i, p_j>}. */
    static double[][] gramMatrix(List<PowerFunctionProfile> profiles) {
        int n = profiles.size();
        double[][] a = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                a[i][j] = profiles.get(i).innerProduct(profiles.get(j));
                a[j][i] = a[i][j];
            }
        }
        return a;
    }

    /** {@code b_i = <p_i, p_r>}. */
    static double[] projections(List<PowerFunctionProfile> profiles, PowerFunctionProfile target) {
        return profiles.stream().mapToDouble(p -> p.innerProduct(target)).toArray();
    }

    /**
     * {@code ||p_r - sum_i x_i p_i|| / ||p_r||} from the inner products alone:
     * {@code sqrt(<p_r,p_r> - 2 x.b + x.A.x) / sqrt(<p_r,p_r>)}, clamped at 0 against cancellation.
     */
    static double relativeResidual(double[][] gram, double[] projections, double targetNormSquared, double[] x) {
        double xb = 0;
        double xAx = 0;
        for (int i = 0; i < x.length; i++) {
            xb += x[i] * projections[i];
            for (int j = 0; j < x.length; j++) {
                xAx += x[i] * gram[i][j] * x[j];
            }
        }
        return Math.sqrt(Math.max(0, targetNormSquared - 2 * xb + xAx) / targetNormSquared);
    }

    private static double[] unitNormScale(double[][] gram) {
        double[] scale = new double[gram.length];
        for (int i = 0; i < gram.length; i++) {
            scale[i] = 1 / Math.sqrt(gram[i][i]);
        }
        return scale;
    }

    private static double[][] scaleSymmetric(double[][] a, double[] scale) {
        double[][] scaled = new double[a.length][a.length];
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a.length; j++) {
                scaled[i][j] = scale[i] * a[i][j] * scale[j];
            }
        }
        return scaled;
    }

    private static double[] multiply(double[] scale, double[] v) {
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = scale[i] * v[i];
        }
        return out;
    }

    private static String cannotMatch(List<PowerFunctionProfile> snapshots, PowerFunctionProfile target) {
        return String.format(Locale.ROOT, "target (sigma_rel %.4f, gamma %.4f, t %s) cannot be matched from these %d"
                + " snapshots: ", target.sigmaRel(), target.gamma(), time(target.t()), snapshots.size());
    }

    private static double latestTime(List<PowerFunctionProfile> snapshots) {
        return snapshots.stream().mapToDouble(PowerFunctionProfile::t).max().orElseThrow();
    }

    private static String trackedSigmaRelRange(List<PowerFunctionProfile> snapshots) {
        double low = snapshots.stream().mapToDouble(PowerFunctionProfile::sigmaRel).min().orElseThrow();
        double high = snapshots.stream().mapToDouble(PowerFunctionProfile::sigmaRel).max().orElseThrow();
        return String.format(Locale.ROOT, "[%.4f, %.4f]", low, high);
    }

    private static String time(double t) {
        return t == Math.rint(t) && Math.abs(t) < 1e15 ? Long.toString((long) t) : Double.toString(t);
    }

    private static String format(double value) {
        return String.format(Locale.ROOT, "%.3g", value);
    }
}
