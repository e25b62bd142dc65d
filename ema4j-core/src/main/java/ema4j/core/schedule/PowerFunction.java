package ema4j.core.schedule;

import static ema4j.core.internal.Preconditions.requireArgument;

import ema4j.core.posthoc.PowerFunctionProfile;

/**
 * EDM2's power-function EMA (Karras et al., 2024, "Analyzing and Improving the Training Dynamics of Diffusion Models",
 * Section 3.1 and Appendix C; NVlabs/edm2 {@code training/phema.py}): the average of all weights seen so far, weighted
 * by {@code tau^gamma}, so its length grows with training instead of being fixed in steps.
 *
 * <p>The update after {@code updatesSoFar = n - 1} earlier updates has seen {@code n} steps of training and decays by
 * {@code (1 - 1/n)^(gamma + 1)}: EDM2's {@code (1 - dt/t)^(gamma + 1)} with {@code dt} one step. The first update
 * ({@code n = 1}) therefore copies the weights. Averaging every {@code k}-th step with
 * {@link #compoundedDecay(long, int)} gives {@code (1 - k/t)^(gamma + 1)}, EDM2's rule with {@code dt = k}. A snapshot
 * after {@code n} updates has the profile {@link PowerFunctionProfile} {@code (gamma, n)}, the input of post-hoc
 * reconstruction.
 *
 * <p>Immutable and thread-safe.
 *
 * @param gamma the exponent, {@code > -1} and finite: 0 is the plain running mean, larger is shorter (EDM2 tracks
 *     about 16.97 and 6.94, sigma_rel 0.05 and 0.10)
 */
public record PowerFunction(double gamma) implements DecaySchedule {

    /** Validates the exponent. */
    public PowerFunction {
        requireArgument(gamma > -1 && Double.isFinite(gamma), "gamma", "> -1 and finite", gamma);
    }

    /**
     * The power-function EMA whose profile has relative standard deviation {@code sigmaRel}.
     *
     * @param sigmaRel in {@code (0, PowerFunctionProfile.MAX_SIGMA_REL]}, about {@code (0, 0.3003]}
     * @see PowerFunctionProfile#gammaFromSigmaRel(double)
     */
    public static PowerFunction ofSigmaRel(double sigmaRel) {
        return new PowerFunction(PowerFunctionProfile.gammaFromSigmaRel(sigmaRel));
    }

    /**
     * The relative standard deviation of this EMA's profile, {@code sqrt((gamma+1) / ((gamma+2)^2 (gamma+3)))}. It
     * identifies gamma uniquely only for {@code gamma >= PowerFunctionProfile.GAMMA_AT_MAX_SIGMA_REL} (about -0.382).
     */
    public double sigmaRel() {
        return PowerFunctionProfile.sigmaRel(gamma);
    }

    @Override
    public double decayAt(long updatesSoFar) {
        requireArgument(updatesSoFar >= 0, "updatesSoFar", ">= 0", updatesSoFar);
        double stepsSeen = updatesSoFar + 1.0;
        // log1p keeps full precision when 1/n is tiny; log1p(-1) = -inf gives exactly 0 for the first update
        return Math.exp((gamma + 1) * Math.log1p(-1 / stepsSeen));
    }

    @Override
    public String toString() {
        return "PowerFunction{gamma=" + gamma + ", sigmaRel=" + sigmaRel() + "}";
    }
}
