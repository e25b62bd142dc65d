package ema4j.demo.diffusion;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.DoubleRange;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Scale;
import org.junit.jupiter.api.Test;

class NoiseScheduleTest {
    @Test
    void ddpmsScheduleRunsFromOneTenThousandthToTwoHundredthsOverAThousandSteps() {
        NoiseSchedule ddpm = NoiseSchedule.ddpm();

        assertThat(ddpm.steps()).isEqualTo(1000);
        assertThat(ddpm.beta(0)).isEqualTo(1e-4);
        assertThat(ddpm.beta(999)).isCloseTo(0.02, within(1e-15));
        assertThat(ddpm.alphaCumprod(0)).isEqualTo(1 - 1e-4);
        // the reference implementations' alphas_cumprod[-1] for this schedule
        assertThat(ddpm.alphaCumprod(999)).isCloseTo(4.0358e-5, within(1e-8));
    }

    @Property(tries = 50)
    void alphaBarFallsStrictlyAndStaysInsideZeroAndOne(@ForAll @IntRange(min = 2, max = 2000) int steps,
            @ForAll @DoubleRange(min = 1e-5, max = 0.01) @Scale(6) double betaStart,
            @ForAll @DoubleRange(min = 0.01, max = 0.05) @Scale(6) double betaEnd) {
        NoiseSchedule schedule = NoiseSchedule.linear().steps(steps).betaStart(betaStart).betaEnd(betaEnd).build();

        for (int t = 1; t < steps; t++) {
            assertThat(schedule.alphaCumprod(t)).isLessThan(schedule.alphaCumprod(t - 1)).isGreaterThan(0);
        }
        assertThat(schedule.alphaCumprod(0)).isLessThan(1);
    }

    @Test
    void qSampleMixesEachImageWithItsNoiseAtItsOwnTimestep() {
        NoiseSchedule ddpm = NoiseSchedule.ddpm();
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            NDArray x0 = manager.ones(new Shape(2, 1, 2, 2));
            NDArray noise = manager.full(new Shape(2, 1, 2, 2), 2f);
            NDArray timesteps = manager.create(new float[] {0, 500});

            float[] noised = ddpm.qSample(x0, timesteps, noise).toFloatArray();

            for (int i = 0; i < 4; i++) {
                assertThat(noised[i]).isCloseTo(expected(ddpm, 0), within(1e-6f));
                assertThat(noised[4 + i]).isCloseTo(expected(ddpm, 500), within(1e-6f));
            }
        }
    }

    private static float expected(NoiseSchedule schedule, int t) {
        return (float) (Math.sqrt(schedule.alphaCumprod(t)) + 2 * Math.sqrt(1 - schedule.alphaCumprod(t)));
    }

    @Test
    void theBuilderNamesTheValueItRefuses() {
        assertThatThrownBy(() -> NoiseSchedule.linear().steps(1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("steps must be >= 2, was 1");
        assertThatThrownBy(() -> NoiseSchedule.linear().betaStart(Double.NaN))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("betaStart must be in (0, 1), was NaN");
        assertThatThrownBy(() -> NoiseSchedule.linear().betaEnd(1)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("betaEnd must be in (0, 1), was 1.0");
        assertThatThrownBy(() -> NoiseSchedule.linear().betaStart(0.1).betaEnd(0.01).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessage("betaEnd must be >= betaStart (0.1), was 0.01");
    }

    @Test
    void itPrintsItsSchedule() {
        assertThat(NoiseSchedule.ddpm()).hasToString("NoiseSchedule[linear, steps=1000, betaStart=1.0E-4, betaEnd=0.02]");
    }
}
