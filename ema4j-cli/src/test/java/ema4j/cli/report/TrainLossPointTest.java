package ema4j.cli.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class TrainLossPointTest {

    @Test
    void aNegativeStepIsRejectedWithItsValue() {
        assertThatThrownBy(() -> new TrainLossPoint(-5, 0.3))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("step must be >= 0, was -5");
    }

    @Test
    void aDivergedBatchKeepsItsNaNLoss() {
        assertThat(new TrainLossPoint(7, Double.NaN).loss()).isNaN();
    }
}
