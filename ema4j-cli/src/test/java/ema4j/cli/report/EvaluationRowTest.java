package ema4j.cli.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class EvaluationRowTest {
    private static final double NAN = Double.NaN;

    @Test
    void aNegativeStepOrEpochIsRejectedWithItsValue() {
        assertThatThrownBy(() -> new EvaluationRow(-1, 0, 0.5, 0.5, 0.8, 0.5, 0.8, 0.99, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("step must be >= 0, was -1");
        assertThatThrownBy(() -> new EvaluationRow(0, -2, 0.5, 0.5, 0.8, 0.5, 0.8, 0.99, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("epoch must be >= 0, was -2");
    }

    @Test
    void metricsMayBeNaNBecauseThatIsHowAMissingMetricIsWritten() {
        EvaluationRow beforeTraining = new EvaluationRow(0, 0, NAN, 2.3, 0.1, NAN, NAN, NAN, 0);

        assertThat(beforeTraining.trainLoss()).isNaN();
        assertThat(beforeTraining.hasEma()).isFalse();
    }

    @Test
    void aRowWithEmaMetricsHasEma() {
        assertThat(new EvaluationRow(100, 1, 0.4, 0.45, 0.85, 0.42, 0.86, 0.999, 12.5).hasEma()).isTrue();
    }
}
