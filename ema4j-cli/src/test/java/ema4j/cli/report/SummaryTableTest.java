package ema4j.cli.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class SummaryTableTest {
    private static final double NAN = Double.NaN;
    // Raw test loss differences -0.2, -0.1, -0.3: mean -0.2, deviations 0, 0.1, -0.1, population std sqrt(0.02 / 3).
    // EMA test loss differences are all -0.1: std 0. Raw accuracy peaks before the end, EMA accuracy at the end.
    private static final List<EvaluationRow> ROWS = List.of(
            new EvaluationRow(0, 0, NAN, 1.0, 0.50, 1.0, 0.40, 0.0, 0),
            new EvaluationRow(100, 1, 0.9, 0.8, 0.72, 0.9, 0.70, 0.99, 10),
            new EvaluationRow(200, 2, 0.7, 0.7, 0.75, 0.8, 0.76, 0.99, 20),
            new EvaluationRow(300, 3, 0.5, 0.4, 0.74, 0.7, 0.78, 0.99, 30));
    private static final List<EvaluationRow> ROWS_WITHOUT_EMA = List.of(
            new EvaluationRow(0, 0, NAN, 1.0, 0.50, NAN, NAN, NAN, 0),
            new EvaluationRow(100, 1, 0.9, 0.8, 0.72, NAN, NAN, NAN, 10),
            new EvaluationRow(200, 2, 0.7, 0.7, 0.75, NAN, NAN, NAN, 20));

    @Test
    void finalAndBestAccuracyAndFinalLossComeFromTheRows() {
        SummaryTable summary = SummaryTable.of(ROWS);

        assertThat(summary.finalRawAccuracy()).isEqualTo(0.74);
        assertThat(summary.bestRawAccuracy()).isEqualTo(0.75);
        assertThat(summary.finalEmaAccuracy()).isEqualTo(0.78);
        assertThat(summary.bestEmaAccuracy()).isEqualTo(0.78);
        assertThat(summary.finalRawLoss()).isEqualTo(0.4);
        assertThat(summary.finalEmaLoss()).isEqualTo(0.7);
    }

    @Test
    void theStepToStepStdIsThePopulationStdOfConsecutiveDifferences() {
        SummaryTable summary = SummaryTable.of(ROWS);

        assertThat(summary.rawLossStepStd()).isCloseTo(Math.sqrt(0.02 / 3), within(1e-12));
        assertThat(summary.emaLossStepStd()).isCloseTo(0, within(1e-12));
    }

    @Test
    void aSteadyTrendHasNoStepToStepStdAndAZigzagHasItsAmplitude() {
        assertThat(SummaryTable.stepToStepStd(new double[] {5, 4, 3, 2, 1})).isZero();
        assertThat(SummaryTable.stepToStepStd(new double[] {0, 1, 0, 1, 0})).isEqualTo(1);
    }

    @Test
    void fewerThanTwoDifferencesGiveNoStepToStepStd() {
        assertThat(SummaryTable.stepToStepStd(new double[] {})).isNaN();
        assertThat(SummaryTable.stepToStepStd(new double[] {1, 2})).isNaN();
        assertThat(SummaryTable.of(ROWS.subList(0, 2)).rawLossStepStd()).isNaN();
    }

    @Test
    void theEmaGainIsTheDifferenceOfFinalAccuraciesInPercentagePoints() {
        assertThat(SummaryTable.of(ROWS).emaGainPoints()).isCloseTo(4.0, within(1e-9));
    }

    @Test
    void theRenderedTableShowsEveryNumberInAlignedLines() {
        String table = SummaryTable.of(ROWS).render();

        assertThat(table).contains("74.00", "75.00", "78.00", "0.4000", "0.7000", "0.08165", "+4.00")
                .contains("| test set").contains("raw").contains("EMA");
        assertThat(table.lines().map(String::length).distinct()).hasSize(1);
        assertThat(table.lines().filter(line -> line.startsWith("+"))).hasSize(4);
        assertThat(table).endsWith("+\n");
    }

    @Test
    void withoutEmaTheEmaColumnShowsDashesAndTheMapHasNulls() {
        SummaryTable summary = SummaryTable.of(ROWS_WITHOUT_EMA);

        assertThat(summary.finalEmaAccuracy()).isNaN();
        assertThat(summary.emaGainPoints()).isNaN();
        assertThat(summary.render().lines().filter(line -> line.startsWith("| ") && !line.startsWith("| test set")))
                .allSatisfy(line -> assertThat(line).matches(".*\\| +(-)? \\|$"));
        assertThat(summary.render()).contains("75.00", "0.7000");
        Map<String, Object> map = summary.toMap();
        assertThat(map).containsEntry("final_raw_test_accuracy", 0.75).containsEntry("final_ema_test_accuracy", null)
                .containsEntry("ema_gain_pp", null).containsEntry("ema_test_loss_step_std", null);
    }

    @Test
    void theMapHasSnakeCaseKeysInAFixedOrderWithAccuraciesAsFractions() {
        Map<String, Object> map = SummaryTable.of(ROWS).toMap();

        assertThat(map.keySet()).containsExactly("final_raw_test_accuracy", "final_ema_test_accuracy",
                "best_raw_test_accuracy", "best_ema_test_accuracy", "final_raw_test_loss", "final_ema_test_loss",
                "raw_test_loss_step_std", "ema_test_loss_step_std", "ema_gain_pp");
        assertThat(map).containsEntry("final_raw_test_accuracy", 0.74).containsEntry("best_raw_test_accuracy", 0.75);
    }

    @Test
    void noRowsGiveAnAllDashTable() {
        SummaryTable summary = SummaryTable.of(List.of());

        assertThat(summary.finalRawAccuracy()).isNaN();
        assertThat(summary.render()).doesNotContain("NaN").contains("-");
        assertThat(summary.toMap().values()).containsOnlyNulls();
    }
}
