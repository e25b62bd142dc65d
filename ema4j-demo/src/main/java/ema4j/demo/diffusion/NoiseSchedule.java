package ema4j.demo.diffusion;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import java.util.Arrays;

/**
 * The forward (noising) process of a diffusion model: the linear variance schedule of Ho et al. 2020 ("Denoising
 * Diffusion Probabilistic Models", section 4: beta from 1e-4 to 0.02 over T = 1000 steps) and its closed form
 * {@code q(x_t | x_0) = N(sqrt(alphaBar_t) x_0, (1 - alphaBar_t) I)}.
 *
 * <p>Timesteps count from 0, as in the reference implementations: {@code t} in {@code [0, T)} is the paper's
 * {@code t + 1}, and {@code alphaBar_t} is the product of {@code 1 - beta_s} for {@code s <= t}. Immutable and
 * thread-safe.
 */
public final class NoiseSchedule {
    private final double betaStart;
    private final double betaEnd;
    private final double[] betas;
    private final double[] alphasCumprod;
    /** sqrt(alphaBar_t) and sqrt(1 - alphaBar_t) in float32, the two coefficients of {@link #qSample}. */
    private final float[] signal;
    private final float[] spread;

    private NoiseSchedule(Builder builder) {
        betaStart = builder.betaStart;
        betaEnd = builder.betaEnd;
        int steps = builder.steps;
        betas = new double[steps];
        alphasCumprod = new double[steps];
        signal = new float[steps];
        spread = new float[steps];
        double product = 1;
        for (int t = 0; t < steps; t++) {
            betas[t] = betaStart + (betaEnd - betaStart) * t / (steps - 1);
            product *= 1 - betas[t];
            alphasCumprod[t] = product;
            signal[t] = (float) Math.sqrt(product);
            spread[t] = (float) Math.sqrt(1 - product);
        }
    }

    /** DDPM's schedule: beta linear from 1e-4 to 0.02 over 1000 steps. */
    public static NoiseSchedule ddpm() {
        return linear().build();
    }

    /**
     * Starts a linear schedule, DDPM's until changed.
     *
     * @return a builder with steps 1000, betaStart 1e-4, betaEnd 0.02
     */
    public static Builder linear() {
        return new Builder();
    }

    /**
     * Returns the number of diffusion steps T.
     *
     * @return T, at least 2
     */
    public int steps() {
        return betas.length;
    }

    /**
     * Returns the variance of the noise added at step {@code t}.
     *
     * @param t the timestep, in [0, T)
     * @return beta_t
     * @throws IndexOutOfBoundsException if {@code t} is outside [0, T)
     */
    public double beta(int t) {
        return betas[t];
    }

    /**
     * Returns how much of the clean image is left at step {@code t}: the product of {@code 1 - beta_s} for
     * {@code s <= t}.
     *
     * @param t the timestep, in [0, T)
     * @return alphaBar_t, in (0, 1)
     * @throws IndexOutOfBoundsException if {@code t} is outside [0, T)
     */
    public double alphaCumprod(int t) {
        return alphasCumprod[t];
    }

    /**
     * Noises clean images to their timesteps in one go: {@code sqrt(alphaBar_t) x0 + sqrt(1 - alphaBar_t) noise}.
     *
     * @param x0 clean images, (batch, ...), in the model's range [-1, 1]
     * @param timesteps one timestep per image, shape (batch), integers in [0, T) of any numeric type
     * @param noise standard Gaussian noise of the shape of {@code x0}
     * @return the noised images x_t, a new array on the manager of {@code x0}
     */
    public NDArray qSample(NDArray x0, NDArray timesteps, NDArray noise) {
        NDManager manager = x0.getManager();
        NDArray index = timesteps.toType(DataType.INT64, false);
        long[] perImage = new long[x0.getShape().dimension()];
        Arrays.fill(perImage, 1);
        perImage[0] = -1;
        NDArray signalCoefficient = manager.create(signal).take(index).reshape(perImage);
        NDArray spreadCoefficient = manager.create(spread).take(index).reshape(perImage);
        return x0.mul(signalCoefficient).add(noise.mul(spreadCoefficient));
    }

    /** Prints T and the two ends of the linear schedule. */
    @Override
    public String toString() {
        return "NoiseSchedule[linear, steps=" + steps() + ", betaStart=" + betaStart + ", betaEnd=" + betaEnd + "]";
    }

    /** Configures a linear {@link NoiseSchedule}; every value is checked where it is set and once more on build. */
    public static final class Builder {
        private int steps = 1000;
        private double betaStart = 1e-4;
        private double betaEnd = 0.02;

        private Builder() {}

        /**
         * Sets the number of diffusion steps T.
         *
         * @param steps T, at least 2
         * @return this builder
         */
        public Builder steps(int steps) {
            requireArgument(steps >= 2, "steps", ">= 2", steps);
            this.steps = steps;
            return this;
        }

        /**
         * Sets beta at the first step.
         *
         * @param betaStart in (0, 1)
         * @return this builder
         */
        public Builder betaStart(double betaStart) {
            requireArgument(betaStart > 0 && betaStart < 1, "betaStart", "in (0, 1)", betaStart);
            this.betaStart = betaStart;
            return this;
        }

        /**
         * Sets beta at the last step.
         *
         * @param betaEnd in (0, 1)
         * @return this builder
         */
        public Builder betaEnd(double betaEnd) {
            requireArgument(betaEnd > 0 && betaEnd < 1, "betaEnd", "in (0, 1)", betaEnd);
            this.betaEnd = betaEnd;
            return this;
        }

        /**
         * Builds the schedule.
         *
         * @return the schedule
         * @throws IllegalArgumentException if betaEnd is below betaStart
         */
        public NoiseSchedule build() {
            requireArgument(betaEnd >= betaStart, "betaEnd", ">= betaStart (" + betaStart + ")", betaEnd);
            return new NoiseSchedule(this);
        }
    }
}
