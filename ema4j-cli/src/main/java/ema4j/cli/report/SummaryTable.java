package ema4j.cli.report;

import static ema4j.core.internal.Preconditions.requireArgument;

import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.ToDoubleFunction;

/**
 * The end-of-run comparison of raw and EMA weights on the test set: final and best accuracy, final loss, how much the
 * evaluated test loss jumps from one evaluation to the next, and what the EMA gained.
 *
 * <p>Accuracies are fractions in [0, 1] like in {@link EvaluationRow}; {@link #render()} shows them in percent.
 * A value that cannot be computed (EMA off, too few evaluations) is NaN, rendered as {@code "-"} and mapped to
 * {@code null}.
 *
 * @param finalRawAccuracy raw test accuracy at the last evaluation
 * @param finalEmaAccuracy EMA test accuracy at the last evaluation
 * @param bestRawAccuracy the highest raw test accuracy of any evaluation
 * @param bestEmaAccuracy the highest EMA test accuracy of any evaluation
 * @param finalRawLoss raw test loss at the last evaluation
 * @param finalEmaLoss EMA test loss at the last evaluation
 * @param rawLossStepStd the step-to-step jitter of the raw test loss, see {@link #stepToStepStd}
 * @param emaLossStepStd the step-to-step jitter of the EMA test loss, see {@link #stepToStepStd}
 */
public record SummaryTable(double finalRawAccuracy, double finalEmaAccuracy, double bestRawAccuracy,
        double bestEmaAccuracy, double finalRawLoss, double finalEmaLoss, double rawLossStepStd,
        double emaLossStepStd) {

    private static final int VALUE_WIDTH = 10;

    /**
     * Summarizes the evaluations of one run.
     *
     * @param rows the evaluations in step order; may be empty, then every value is NaN
     * @return the summary
     */
    public static SummaryTable of(List<EvaluationRow> rows) {
        requireArgument(rows != null, "rows", "non-null", null);
        EvaluationRow last = rows.isEmpty() ? null : rows.get(rows.size() - 1);
        return new SummaryTable(
                last == null ? Double.NaN : last.rawTestAccuracy(),
                last == null ? Double.NaN : last.emaTestAccuracy(),
                best(rows, EvaluationRow::rawTestAccuracy),
                best(rows, EvaluationRow::emaTestAccuracy),
                last == null ? Double.NaN : last.rawTestLoss(),
                last == null ? Double.NaN : last.emaTestLoss(),
                stepToStepStd(finite(rows, EvaluationRow::rawTestLoss)),
                stepToStepStd(finite(rows, EvaluationRow::emaTestLoss)));
    }

    /**
     * Measures how jumpy a series is: the population standard deviation of its consecutive differences
     * {@code values[i + 1] - values[i]}, so a steady trend counts as smooth and only the wiggles around it count.
     *
     * @param values the series in order, all finite
     * @return the standard deviation, {@code >= 0}; NaN when there are fewer than two differences (three values)
     */
    public static double stepToStepStd(double[] values) {
        requireArgument(values != null, "values", "non-null", null);
        int differences = values.length - 1;
        if (differences < 2) {
            return Double.NaN;
        }
        double mean = (values[differences] - values[0]) / differences;
        double sumOfSquares = 0;
        for (int i = 0; i < differences; i++) {
            double deviation = values[i + 1] - values[i] - mean;
            sumOfSquares += deviation * deviation;
        }
        return Math.sqrt(sumOfSquares / differences);
    }

    /**
     * Returns what averaging bought at the end: EMA minus raw final test accuracy.
     *
     * @return the gain in percentage points, negative when the EMA did worse, NaN without EMA
     */
    public double emaGainPoints() {
        return 100 * (finalEmaAccuracy - finalRawAccuracy);
    }

    /**
     * Renders the summary as a fixed-width ASCII table for the terminal, one line per metric, raw and EMA side by side.
     *
     * @return the table, lines ending in {@code '\n'}
     */
    public String render() {
        String[][] lines = {
            {"test set", "raw", "EMA"},
            {"final accuracy (%)", percent(finalRawAccuracy), percent(finalEmaAccuracy)},
            {"best accuracy (%)", percent(bestRawAccuracy), percent(bestEmaAccuracy)},
            {"final loss", format("%.4f", finalRawLoss), format("%.4f", finalEmaLoss)},
            {"loss step-to-step std", format("%.4g", rawLossStepStd), format("%.4g", emaLossStepStd)},
            {"EMA gain, final accuracy (pp)", "", format("%+.2f", emaGainPoints())},
        };
        int labelWidth = Arrays.stream(lines).mapToInt(line -> line[0].length()).max().orElseThrow();
        String rule = "+" + "-".repeat(labelWidth + 2) + ("+" + "-".repeat(VALUE_WIDTH + 2)).repeat(2) + "+\n";
        StringBuilder table = new StringBuilder(rule);
        for (int i = 0; i < lines.length; i++) {
            table.append(String.format(Locale.ROOT, "| %-" + labelWidth + "s | %" + VALUE_WIDTH + "s | %"
                    + VALUE_WIDTH + "s |\n", lines[i][0], lines[i][1], lines[i][2]));
            if (i == 0 || i == lines.length - 2 || i == lines.length - 1) {
                table.append(rule);
            }
        }
        return table.toString();
    }

    /**
     * Returns the summary as JSON-ready entries with snake_case keys, accuracies as fractions, NaN as {@code null}.
     *
     * @return an ordered, mutable map
     */
    public Map<String, Object> toMap() {
        Map<String, Object> map = new LinkedHashMap<>();
        map.put("final_raw_test_accuracy", orNull(finalRawAccuracy));
        map.put("final_ema_test_accuracy", orNull(finalEmaAccuracy));
        map.put("best_raw_test_accuracy", orNull(bestRawAccuracy));
        map.put("best_ema_test_accuracy", orNull(bestEmaAccuracy));
        map.put("final_raw_test_loss", orNull(finalRawLoss));
        map.put("final_ema_test_loss", orNull(finalEmaLoss));
        map.put("raw_test_loss_step_std", orNull(rawLossStepStd));
        map.put("ema_test_loss_step_std", orNull(emaLossStepStd));
        map.put("ema_gain_pp", orNull(emaGainPoints()));
        return map;
    }

    private static double best(List<EvaluationRow> rows, ToDoubleFunction<EvaluationRow> metric) {
        return Arrays.stream(finite(rows, metric)).max().orElse(Double.NaN);
    }

    private static double[] finite(List<EvaluationRow> rows, ToDoubleFunction<EvaluationRow> metric) {
        return rows.stream().mapToDouble(metric).filter(Double::isFinite).toArray();
    }

    private static String percent(double fraction) {
        return format("%.2f", 100 * fraction);
    }

    private static String format(String pattern, double value) {
        return Double.isFinite(value) ? String.format(Locale.ROOT, pattern, value) : "-";
    }

    private static Double orNull(double value) {
        return Double.isFinite(value) ? value : null;
    }
}
