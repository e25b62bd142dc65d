package ema4j.core.posthoc;

import static ema4j.core.internal.Preconditions.requireArgument;

/**
 * The weighting that a power-function EMA gives to the training history: EDM2's profile
 * {@code p_{gamma,t}(tau) = (gamma + 1) tau^gamma / t^(gamma + 1)} on {@code 0 < tau <= t}, zero after {@code t}
 * (Karras et al., 2024, "Analyzing and Improving the Training Dynamics of Diffusion Models", Section 3 and
 * Appendix C; NVlabs/edm2 {@code training/phema.py}).
 *
 * <p>A snapshot of a power-function EMA with exponent {@code gamma}, taken after {@code t} units of training, is the
 * average of all weights seen so far under this profile. The profile integrates to 1 and is scale-invariant in
 * {@code t}: EDM2 counts images seen, ema4j counts optimizer steps (the step count after the update); both give the
 * same post-hoc weights. With the per-update decay {@code (1 - 1/n)^(gamma + 1)}, the weight of the {@code k}-th
 * update after {@code n} updates is exactly the profile's mass on {@code (k - 1, k]}, so the discrete EMA equals the
 * profile applied to the piecewise-constant weight trajectory.
 *
 * <p>The static functions are the paper's quantities as pure functions; the record names one profile
 * (a recorded snapshot or a reconstruction target). Immutable and thread-safe.
 *
 * @param gamma the exponent, {@code > -1} and finite (the profile must be integrable)
 * @param t the training time the profile ends at, {@code > 0} and finite (steps, or any unit used consistently)
 */
public record PowerFunctionProfile(double gamma, double t) {

    /**
     * The exponent at which {@link #sigmaRel(double)} peaks, {@code (sqrt(5) - 3) / 2} (about -0.382): below it the
     * profile piles up at {@code tau = 0} and gets narrower again, so sigma_rel names a gamma uniquely only from here
     * on.
     */
    public static final double GAMMA_AT_MAX_SIGMA_REL = (Math.sqrt(5) - 3) / 2;

    /**
     * The widest relative standard deviation any power-function profile has, {@code phi^(-5/2)} (about 0.3003), reached
     * at {@link #GAMMA_AT_MAX_SIGMA_REL}. The uniform average ({@code gamma = 0}) has {@code 1/sqrt(12)} (about
     * 0.2887), the upper bound EDM2's command line accepts.
     */
    public static final double MAX_SIGMA_REL = sigmaRel(GAMMA_AT_MAX_SIGMA_REL);

    /** Validates the exponent and the time. */
    public PowerFunctionProfile {
        requireGamma(gamma);
        requireArgument(t > 0 && Double.isFinite(t), "t", "> 0 and finite", t);
    }

    /**
     * The profile of relative width {@code sigmaRel} ending at {@code t}.
     *
     * @param sigmaRel in {@code (0, MAX_SIGMA_REL]}; see {@link #gammaFromSigmaRel(double)}
     * @param t the training time the profile ends at, {@code > 0}
     */
    public static PowerFunctionProfile ofSigmaRel(double sigmaRel, double t) {
        return new PowerFunctionProfile(gammaFromSigmaRel(sigmaRel), t);
    }

    /** This profile's relative standard deviation; see {@link #sigmaRel(double)}. */
    public double sigmaRel() {
        return sigmaRel(gamma);
    }

    /** The profile's density at {@code tau}; see {@link #density(double, double, double)}. */
    public double densityAt(double tau) {
        return density(gamma, t, tau);
    }

    /**
     * The inner product {@code <this, other>} over the training time; see
     * {@link #innerProduct(double, double, double, double)}.
     */
    public double innerProduct(PowerFunctionProfile other) {
        return innerProduct(gamma, t, other.gamma, other.t);
    }

    /**
     * EDM2's relative standard deviation of the profile: its standard deviation over {@code [0, t]} divided by t,
     * {@code sqrt((gamma + 1) / ((gamma + 2)^2 (gamma + 3)))}. It tends to 0 both as gamma grows (a short average
     * of the latest weights) and as gamma approaches -1 (all mass near the start), and peaks at {@link #MAX_SIGMA_REL}.
     *
     * @param gamma the exponent, {@code > -1} and finite
     */
    public static double sigmaRel(double gamma) {
        requireGamma(gamma);
        return Math.sqrt((gamma + 1) / ((gamma + 2) * (gamma + 2) * (gamma + 3)));
    }

    /**
     * The exponent of the profile with relative standard deviation {@code sigmaRel}: EDM2's {@code std_to_exp}, the
     * largest real root of {@code g^3 + 7 g^2 + (16 - s^-2) g + (12 - s^-2) = 0}.
     *
     * <p>The cubic is {@code (g + 2)^2 (g + 3) - s^-2 (g + 1)}, so its largest root is the solution of
     * {@code sigmaRel(g) = s} on {@code g >= GAMMA_AT_MAX_SIGMA_REL}, where sigmaRel decreases strictly. That equation
     * is solved by bisection in log space, which avoids the cubic's cancellation for small {@code s} and makes the
     * round trip {@code sigmaRel(gammaFromSigmaRel(s)) == s} hold to about 1e-15 relative. For {@code s <= 1/sqrt(12)}
     * the result is {@code >= 0}; between {@code 1/sqrt(12)} and {@link #MAX_SIGMA_REL} it lies in {@code [-0.382, 0)}.
     *
     * @param sigmaRel in {@code (0, MAX_SIGMA_REL]}, about {@code (0, 0.3003]}
     * @return gamma, {@code >= GAMMA_AT_MAX_SIGMA_REL}
     */
    public static double gammaFromSigmaRel(double sigmaRel) {
        requireArgument(sigmaRel > 0 && sigmaRel <= MAX_SIGMA_REL, "sigmaRel", "in (0, " + MAX_SIGMA_REL + "]",
                sigmaRel);
        double target = Math.log(sigmaRel);
        double below = GAMMA_AT_MAX_SIGMA_REL; // logSigmaRel(below) >= target
        double above = 1 / sigmaRel;           // sigmaRel(g) < 1/g for g > 0, so logSigmaRel(above) < target
        while (above - below > 2 * Math.ulp(Math.max(1.0, Math.abs(above)))) {
            double middle = below + (above - below) / 2;
            if (logSigmaRel(middle) >= target) {
                below = middle;
            } else {
                above = middle;
            }
        }
        return below + (above - below) / 2;
    }

    /**
     * The profile's density {@code p_{gamma,t}(tau) = (gamma + 1) tau^gamma / t^(gamma + 1)} for {@code 0 < tau <= t},
     * 0 for {@code tau > t}. It integrates to 1 over {@code [0, t]}.
     *
     * @param gamma the exponent, {@code > -1}
     * @param t the end of the profile, {@code > 0}
     * @param tau the training time, {@code > 0}
     */
    public static double density(double gamma, double t, double tau) {
        requireGamma(gamma);
        requireArgument(t > 0 && Double.isFinite(t), "t", "> 0 and finite", t);
        requireArgument(tau > 0, "tau", "> 0", tau);
        return tau > t ? 0.0 : (gamma + 1) / t * Math.pow(tau / t, gamma);
    }

    /**
     * The inner product {@code <p_a, p_b>}, the integral of the product of two profiles over the training time: EDM2's
     * {@code p_dot_p}, {@code (gammaA + 1)(gammaB + 1)(tA / tB)^e / ((gammaA + gammaB + 1) max(tA, tB))} with
     * {@code e = gammaB} if {@code tA < tB}, else {@code -gammaA}. Symmetric in its two profiles.
     *
     * @param gammaA the first exponent, {@code > -1}
     * @param tA the first profile's end, {@code > 0}
     * @param gammaB the second exponent, {@code > -1}, with {@code gammaA + gammaB > -1} (else the product of the two
     *     profiles is not integrable at 0)
     * @param tB the second profile's end, {@code > 0}
     */
    public static double innerProduct(double gammaA, double tA, double gammaB, double tB) {
        requireGamma(gammaA);
        requireGamma(gammaB);
        requireArgument(tA > 0 && Double.isFinite(tA), "tA", "> 0 and finite", tA);
        requireArgument(tB > 0 && Double.isFinite(tB), "tB", "> 0 and finite", tB);
        requireArgument(gammaA + gammaB > -1, "gammaA + gammaB", "> -1 (else the product is not integrable)",
                gammaA + gammaB);
        double exponent = tA < tB ? gammaB : -gammaA;
        return (gammaA + 1) * (gammaB + 1) * Math.pow(tA / tB, exponent)
                / ((gammaA + gammaB + 1) * Math.max(tA, tB));
    }

    @Override
    public String toString() {
        return "PowerFunctionProfile{gamma=" + gamma + ", sigmaRel=" + sigmaRel() + ", t=" + t + "}";
    }

    private static double logSigmaRel(double gamma) {
        return 0.5 * (Math.log(gamma + 1) - 2 * Math.log(gamma + 2) - Math.log(gamma + 3));
    }

    private static void requireGamma(double gamma) {
        requireArgument(gamma > -1 && Double.isFinite(gamma), "gamma", "> -1 and finite", gamma);
    }
}
