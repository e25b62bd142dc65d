package ema4j.core.posthoc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.function.DoubleUnaryOperator;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.Scale;
import org.junit.jupiter.api.Test;

class PowerFunctionProfileTest {

    /**
     * Simpson's rule for the integral over [0, end] of f, after substituting tau = end * exp(-v): the integrand becomes
     * f(tau) * tau, which for a power of tau decays like exp(-rate * v); v runs to 40 / rate, where that is e^-40.
     */
    static double integral(DoubleUnaryOperator f, double end, double rate) {
        int intervals = 20_000;
        double h = 40 / rate / intervals;
        double sum = 0;
        for (int i = 0; i <= intervals; i++) {
            double tau = end * Math.exp(-i * h);
            double weight = i == 0 || i == intervals ? 1 : (i % 2 == 1 ? 4 : 2);
            sum += weight * f.applyAsDouble(tau) * tau;
        }
        return sum * h / 3;
    }

    private static double cubic(double g, double s) {
        double k = 1 / (s * s);
        return g * g * g + 7 * g * g + (16 - k) * g + (12 - k);
    }

    @Test
    void edm2sTwoTrackedLengthsHaveTheirKnownExponents() {
        assertThat(PowerFunctionProfile.gammaFromSigmaRel(0.05)).isCloseTo(16.97, within(0.005));
        assertThat(PowerFunctionProfile.gammaFromSigmaRel(0.10)).isCloseTo(6.94, within(0.005));
    }

    @Test
    void theUniformAverageIsOneOverRootTwelveWideAndThePeakIsPhiToTheMinusFiveHalves() {
        assertThat(PowerFunctionProfile.sigmaRel(0)).isCloseTo(Math.sqrt(1.0 / 12), within(1e-16));
        assertThat(PowerFunctionProfile.gammaFromSigmaRel(Math.sqrt(1.0 / 12))).isCloseTo(0, within(1e-12));
        double phi = (1 + Math.sqrt(5)) / 2;
        assertThat(PowerFunctionProfile.MAX_SIGMA_REL).isCloseTo(Math.pow(phi, -2.5), within(1e-15));
        assertThat(PowerFunctionProfile.gammaFromSigmaRel(PowerFunctionProfile.MAX_SIGMA_REL))
                .isCloseTo(PowerFunctionProfile.GAMMA_AT_MAX_SIGMA_REL, within(1e-7));
    }

    @Property
    void sigmaRelToGammaAndBackIsExact(@ForAll @Scale(6) @DoubleRange(min = 1e-5, max = 0.3002) double sigmaRel) {
        double gamma = PowerFunctionProfile.gammaFromSigmaRel(sigmaRel);
        assertThat(PowerFunctionProfile.sigmaRel(gamma)).isCloseTo(sigmaRel, within(1e-9 * sigmaRel));
    }

    @Property
    void gammaToSigmaRelAndBackIsExactOnTheBranchWhereSigmaRelNamesGamma(
            @ForAll @Scale(6) @DoubleRange(min = -0.3, max = 10_000) double gamma) {
        double back = PowerFunctionProfile.gammaFromSigmaRel(PowerFunctionProfile.sigmaRel(gamma));
        assertThat(back).isCloseTo(gamma, within(1e-9 * Math.max(1, Math.abs(gamma))));
    }

    @Property
    void theExponentIsTheLargestRealRootOfEdm2sCubic(
            @ForAll @Scale(6) @DoubleRange(min = 1e-3, max = 0.3) double s) {
        double g = PowerFunctionProfile.gammaFromSigmaRel(s);
        double k = 1 / (s * s);
        double magnitude = Math.abs(g * g * g) + 7 * g * g + (16 + k) * Math.abs(g) + 12 + k; // rounding scale
        assertThat(cubic(g, s)).isCloseTo(0, within(1e-12 * magnitude));
        // deflate: cubic = (x - g)(x^2 + (7 + g) x + c); the other roots must lie below g
        double b = 7 + g;
        double c = (16 - k) + g * b;
        double discriminant = b * b - 4 * c;
        double otherLargest = discriminant >= 0 ? (-b + Math.sqrt(discriminant)) / 2 : -b / 2;
        assertThat(otherLargest).isLessThanOrEqualTo(g + 1e-6 * Math.max(1, Math.abs(g)));
    }

    @Property(tries = 100)
    void aProfileIntegratesToOne(@ForAll @Scale(6) @DoubleRange(min = -0.9, max = 60) double gamma,
            @ForAll @DoubleRange(min = 1, max = 1e6) double t) {
        assertThat(integral(tau -> PowerFunctionProfile.density(gamma, t, tau), t, gamma + 1))
                .isCloseTo(1, within(1e-9));
    }

    @Property(tries = 100)
    void theInnerProductIsTheIntegralOfTheProductOfTheTwoProfiles(
            @ForAll @Scale(6) @DoubleRange(min = -0.4, max = 40) double gammaA,
            @ForAll @DoubleRange(min = 10, max = 5000) double tA,
            @ForAll @Scale(6) @DoubleRange(min = -0.4, max = 40) double gammaB,
            @ForAll @DoubleRange(min = 10, max = 5000) double tB) {
        double numeric = integral(tau -> PowerFunctionProfile.density(gammaA, tA, tau)
                * PowerFunctionProfile.density(gammaB, tB, tau), Math.min(tA, tB), gammaA + gammaB + 1);
        double closedForm = PowerFunctionProfile.innerProduct(gammaA, tA, gammaB, tB);
        assertThat(closedForm).isCloseTo(numeric, within(1e-9 * closedForm + 1e-300));
        assertThat(PowerFunctionProfile.innerProduct(gammaB, tB, gammaA, tA)).isCloseTo(closedForm,
                within(1e-12 * closedForm));
    }

    @Test
    void aProfilesSquaredNormIsTheNumericIntegralOfItsSquare() {
        PowerFunctionProfile p = PowerFunctionProfile.ofSigmaRel(0.05, 2000);
        double numeric = integral(tau -> p.densityAt(tau) * p.densityAt(tau), p.t(), 2 * p.gamma() + 1);
        assertThat(p.innerProduct(p)).isCloseTo(numeric, within(1e-9 * numeric));
        double gamma = p.gamma();
        assertThat(p.innerProduct(p)).isCloseTo((gamma + 1) * (gamma + 1) / ((2 * gamma + 1) * 2000), within(1e-15));
    }

    @Test
    void outOfRangeValuesAreRejectedWithTheirValue() {
        assertThatThrownBy(() -> PowerFunctionProfile.gammaFromSigmaRel(0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("sigmaRel must be in (0, " + PowerFunctionProfile.MAX_SIGMA_REL + "], was 0.0");
        assertThatThrownBy(() -> PowerFunctionProfile.gammaFromSigmaRel(Double.NaN)).hasMessageEndingWith("was NaN");
        assertThatThrownBy(() -> PowerFunctionProfile.gammaFromSigmaRel(0.31)).hasMessageEndingWith("was 0.31");
        assertThatThrownBy(() -> PowerFunctionProfile.sigmaRel(-1))
                .hasMessage("gamma must be > -1 and finite, was -1.0");
        assertThatThrownBy(() -> new PowerFunctionProfile(3, 0)).hasMessage("t must be > 0 and finite, was 0.0");
        assertThatThrownBy(() -> PowerFunctionProfile.innerProduct(-0.6, 1, -0.6, 2))
                .hasMessage("gammaA + gammaB must be > -1 (else the product is not integrable), was -1.2");
    }
}
