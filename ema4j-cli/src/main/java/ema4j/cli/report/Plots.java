package ema4j.cli.report;

import static ema4j.core.internal.Preconditions.requireArgument;

import ema4j.io.AtomicFiles;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.ToDoubleFunction;
import java.util.stream.IntStream;
import javax.imageio.ImageIO;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.XYSeries.XYSeriesRenderStyle;
import org.knowm.xchart.style.Styler.LegendPosition;
import org.knowm.xchart.style.XYStyler;
import org.knowm.xchart.style.markers.Marker;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * The PNG charts of a training run, drawn with XChart: training and test loss, test accuracy, the decay schedule.
 *
 * <p>Every chart skips points that are NaN or infinite (and, on a logarithmic axis, points that are not positive)
 * and leaves out a series with no points left, so a run without EMA or with a diverged batch still plots. Charts
 * render off-screen: loading this class sets {@code java.awt.headless=true} unless the property is already set.
 * Each file is replaced atomically ({@link AtomicFiles}); its directory must exist. Safe to call from several
 * threads for different files.
 */
public final class Plots {
    /** The width of every chart, in pixels. */
    public static final int WIDTH = 900;
    /** The height of the loss and accuracy charts, in pixels. */
    public static final int HEIGHT = 500;
    /** The height of the decay-schedule chart, two panels stacked, in pixels. */
    public static final int SCHEDULE_HEIGHT = 640;

    // Before any AWT class loads: java.awt.Color, used just below, already asks whether AWT is headless.
    static {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true");
        }
    }

    private static final Color RAW = new Color(31, 119, 180);
    private static final Color RAW_BATCHES = new Color(31, 119, 180, 70);
    private static final Color RAW_SMOOTHED = new Color(18, 70, 110);
    private static final Color EMA = new Color(230, 110, 0);
    private static final Color GRID = new Color(225, 225, 225);
    /** A moving average over 1/50 of the batches smooths batch noise yet keeps the shape of the curve. */
    private static final int SMOOTHING_FRACTION = 50;

    private Plots() {}

    /**
     * Draws the training loss of every batch (thin and light, with a dark moving average over it) beside the test
     * loss of the raw and of the EMA weights at each evaluation, into a {@value #WIDTH} x {@value #HEIGHT} PNG.
     *
     * <p>The per-batch curve is noisy by nature; the two test-loss curves are the fair comparison of raw and
     * averaged weights.
     *
     * @param perStep the loss of each training batch, in step order; may be empty
     * @param rows the evaluations, in step order; may be empty, EMA values may be NaN
     * @param png the file to write
     * @throws IOException when the file cannot be written
     */
    public static void trainingLoss(List<TrainLossPoint> perStep, List<EvaluationRow> rows, Path png)
            throws IOException {
        requireArgument(perStep != null, "perStep", "non-null", null);
        requireArgument(rows != null, "rows", "non-null", null);
        requireArgument(png != null, "png", "non-null", null);
        XYChart chart = chart("Training and test loss: raw vs EMA weights", "step", "loss (cross-entropy)", HEIGHT);
        chart.getStyler().setLegendPosition(LegendPosition.InsideNE);

        Points batches = Points.of(perStep, TrainLossPoint::step, TrainLossPoint::loss);
        add(chart, "raw weights, training batches", batches, RAW_BATCHES, 1f, SeriesMarkers.NONE);
        int window = Math.max(1, batches.size() / SMOOTHING_FRACTION);
        if (window > 1) {
            add(chart, "raw weights, training batches, mean of " + window, batches.movingAverage(window),
                    RAW_SMOOTHED, 2f, SeriesMarkers.NONE);
        }
        add(chart, "raw weights, test set", Points.of(rows, EvaluationRow::step, EvaluationRow::rawTestLoss),
                RAW, 2f, SeriesMarkers.CIRCLE);
        add(chart, "EMA weights, test set", Points.of(rows, EvaluationRow::step, EvaluationRow::emaTestLoss),
                EMA, 2.5f, SeriesMarkers.DIAMOND);
        double top = lossAxisTop(perStep, rows);
        if (Double.isFinite(top)) {
            // the first steps' loss would flatten everything after it: the axis ends just above the typical loss
            chart.getStyler().setYAxisMin(0.0).setYAxisMax(top);
        }
        write(BitmapEncoder.getBufferedImage(chart), png);
    }

    /** 1.3 times the larger of the worst test loss after the first evaluation and the 98th percentile batch loss. */
    private static double lossAxisTop(List<TrainLossPoint> perStep, List<EvaluationRow> rows) {
        double[] batch = perStep.stream().skip(perStep.size() / 20).mapToDouble(TrainLossPoint::loss)
                .filter(Double::isFinite).sorted().toArray();
        double top = batch.length == 0 ? Double.NaN : batch[(int) Math.floor(0.98 * (batch.length - 1))];
        for (EvaluationRow row : rows.subList(Math.min(1, rows.size()), rows.size())) {
            for (double v : new double[] {row.rawTestLoss(), row.emaTestLoss()}) {
                if (Double.isFinite(v) && !(v <= top)) {
                    top = v;
                }
            }
        }
        return 1.3 * top;
    }

    /**
     * Draws the test accuracy of the raw and of the EMA weights at each evaluation, in percent, into a
     * {@value #WIDTH} x {@value #HEIGHT} PNG.
     *
     * @param rows the evaluations, in step order, accuracies as fractions; may be empty, EMA values may be NaN
     * @param png the file to write
     * @throws IOException when the file cannot be written
     */
    public static void testAccuracy(List<EvaluationRow> rows, Path png) throws IOException {
        requireArgument(rows != null, "rows", "non-null", null);
        requireArgument(png != null, "png", "non-null", null);
        XYChart chart = chart("Test accuracy: raw vs EMA weights", "step", "test accuracy (%)", HEIGHT);
        chart.getStyler().setLegendPosition(LegendPosition.InsideSE);
        add(chart, "raw weights", Points.of(rows, EvaluationRow::step, row -> 100 * row.rawTestAccuracy()),
                RAW, 2f, SeriesMarkers.CIRCLE);
        add(chart, "EMA weights", Points.of(rows, EvaluationRow::step, row -> 100 * row.emaTestAccuracy()),
                EMA, 2.5f, SeriesMarkers.DIAMOND);
        write(BitmapEncoder.getBufferedImage(chart), png);
    }

    /**
     * Draws the test accuracy of post-hoc EMAs against their sigma_rel, with the raw weights and the run's own EMA as
     * horizontal reference lines, into a {@value #WIDTH} x {@value #HEIGHT} PNG.
     *
     * @param sigmaRel the reconstructed EMA lengths, increasing
     * @param accuracy the test accuracy of each, a fraction; NaN for a target that was refused
     * @param rawAccuracy the raw weights' test accuracy, or NaN for no line
     * @param emaAccuracy the training run's EMA's test accuracy, or NaN for no line
     * @param emaLabel the legend of the EMA line, e.g. its schedule
     * @param png the file to write
     * @throws IOException when the file cannot be written
     */
    public static void posthocSweep(double[] sigmaRel, double[] accuracy, double rawAccuracy, double emaAccuracy,
            String emaLabel, Path png) throws IOException {
        requireArgument(sigmaRel != null && accuracy != null && sigmaRel.length == accuracy.length,
                "sigmaRel and accuracy", "non-null and of one length", null);
        requireArgument(png != null, "png", "non-null", null);
        XYChart chart = chart("Post-hoc EMA: test accuracy vs sigma_rel", "sigma_rel", "test accuracy (%)", HEIGHT);
        chart.getStyler().setLegendPosition(LegendPosition.InsideSE);
        double[] percent = Arrays.stream(accuracy).map(a -> 100 * a).toArray();
        add(chart, "post-hoc EMA", new Points(sigmaRel, percent).finite(false, false), EMA, 2.5f,
                SeriesMarkers.DIAMOND);
        Points span = new Points(sigmaRel, sigmaRel).finite(false, false);
        if (span.size() > 0) {
            double[] ends = {Arrays.stream(span.x).min().orElseThrow(), Arrays.stream(span.x).max().orElseThrow()};
            add(chart, "raw weights", new Points(ends, new double[] {100 * rawAccuracy, 100 * rawAccuracy})
                    .finite(false, false), RAW, 2f, SeriesMarkers.NONE);
            add(chart, emaLabel, new Points(ends, new double[] {100 * emaAccuracy, 100 * emaAccuracy})
                    .finite(false, false), RAW_SMOOTHED, 2f, SeriesMarkers.NONE);
        }
        write(BitmapEncoder.getBufferedImage(chart), png);
    }

    /**
     * Draws a decay schedule as two stacked panels, the decay and the averaging horizon {@code 1 / (1 - decay)}
     * (about how many recent updates the average spans), into a {@value #WIDTH} x {@value #SCHEDULE_HEIGHT} PNG.
     *
     * <p>The update axis is logarithmic when the positive updates span two decades or more (update 0 is then left
     * out), the horizon axis when the horizons do; a decay of 1 has no finite horizon and is left out of that panel.
     *
     * @param updates the update counts, increasing
     * @param decay the decay at each update, same length as {@code updates}
     * @param title the chart title, e.g. the schedule's {@code toString()}
     * @param png the file to write
     * @throws IOException when the file cannot be written
     */
    public static void decaySchedule(long[] updates, double[] decay, String title, Path png) throws IOException {
        requireArgument(updates != null, "updates", "non-null", null);
        requireArgument(decay != null, "decay", "non-null", null);
        requireArgument(decay.length == updates.length, "decay.length", "updates.length = " + updates.length,
                decay.length);
        requireArgument(title != null, "title", "non-null", null);
        requireArgument(png != null, "png", "non-null", null);
        double[] x = Arrays.stream(updates).asDoubleStream().toArray();
        double[] horizon = Arrays.stream(decay).map(d -> 1 / (1 - d)).toArray();
        boolean logUpdates = spansDecades(x);
        Points decayPoints = new Points(x, decay).finite(logUpdates, false);
        Points horizonPoints = new Points(x, horizon).finite(logUpdates, false);
        boolean logHorizon = spansDecades(horizonPoints.y);
        horizonPoints = horizonPoints.finite(logUpdates, logHorizon);

        int decayHeight = SCHEDULE_HEIGHT * 11 / 20;
        XYChart top = chart(title, "update", "decay", decayHeight);
        top.getStyler().setXAxisLogarithmic(logUpdates).setLegendVisible(false);
        add(top, "decay", decayPoints, RAW, 2.5f, SeriesMarkers.NONE);
        XYChart bottom = chart("Averaging horizon 1 / (1 - decay)", "update", "horizon (updates)",
                SCHEDULE_HEIGHT - decayHeight);
        bottom.getStyler().setXAxisLogarithmic(logUpdates).setYAxisLogarithmic(logHorizon).setLegendVisible(false);
        add(bottom, "horizon", horizonPoints, EMA, 2.5f, SeriesMarkers.NONE);

        BufferedImage image = new BufferedImage(WIDTH, SCHEDULE_HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D graphics = image.createGraphics();
        try {
            graphics.drawImage(BitmapEncoder.getBufferedImage(top), 0, 0, null);
            graphics.drawImage(BitmapEncoder.getBufferedImage(bottom), 0, decayHeight, null);
        } finally {
            graphics.dispose();
        }
        write(image, png);
    }

    private static XYChart chart(String title, String xAxis, String yAxis, int height) {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(height).title(title).xAxisTitle(xAxis)
                .yAxisTitle(yAxis).build();
        XYStyler styler = chart.getStyler();
        styler.setDefaultSeriesRenderStyle(XYSeriesRenderStyle.Line);
        styler.setChartTitleFont(new Font(Font.SANS_SERIF, Font.BOLD, 18));
        styler.setAxisTitleFont(new Font(Font.SANS_SERIF, Font.PLAIN, 15));
        styler.setAxisTickLabelsFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        styler.setLegendFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        styler.setChartBackgroundColor(Color.WHITE);
        styler.setPlotBackgroundColor(Color.WHITE);
        styler.setPlotBorderColor(Color.GRAY);
        styler.setPlotGridLinesColor(GRID);
        styler.setLegendBackgroundColor(new Color(255, 255, 255, 220));
        styler.setLegendBorderColor(Color.LIGHT_GRAY);
        styler.setChartTitleBoxVisible(false);
        styler.setMarkerSize(7);
        styler.setAntiAlias(true);
        return chart;
    }

    private static void add(XYChart chart, String name, Points points, Color color, float width, Marker marker) {
        if (points.size() == 0) {
            return;
        }
        XYSeries series = chart.addSeries(name, points.x, points.y);
        series.setLineColor(color);
        series.setLineStyle(new BasicStroke(width, BasicStroke.CAP_ROUND, BasicStroke.JOIN_ROUND));
        series.setMarker(marker);
        series.setMarkerColor(color);
    }

    private static boolean spansDecades(double[] values) {
        double[] positive = Arrays.stream(values).filter(v -> v > 0 && Double.isFinite(v)).toArray();
        return positive.length > 1
                && Arrays.stream(positive).max().orElseThrow() >= 100 * Arrays.stream(positive).min().orElseThrow();
    }

    private static void write(BufferedImage image, Path png) throws IOException {
        try {
            AtomicFiles.write(png, channel -> {
                // ImageIO does not close the stream, and must not: AtomicFiles forces and closes the channel itself.
                if (!ImageIO.write(image, "png", Channels.newOutputStream(channel))) {
                    throw new IOException("no PNG writer in this JRE");
                }
            });
        } catch (javax.imageio.IIOException e) {
            // ImageIO says only "I/O error writing PNG file!"; the reason (e.g. a full disk) is its cause's
            Throwable cause = e;
            while (cause.getCause() != null) {
                cause = cause.getCause();
            }
            throw new IOException(cause.getMessage() + " while writing " + png + " (the plot is not written)", e);
        }
    }

    /** The drawable points of one series: x and y of the same length. */
    private record Points(double[] x, double[] y) {

        static <T> Points of(List<T> items, ToDoubleFunction<T> x, ToDoubleFunction<T> y) {
            return new Points(items.stream().mapToDouble(x).toArray(), items.stream().mapToDouble(y).toArray())
                    .finite(false, false);
        }

        int size() {
            return x.length;
        }

        /** Keeps the points where both coordinates are finite and, on a logarithmic axis, positive. */
        Points finite(boolean logX, boolean logY) {
            int[] kept = IntStream.range(0, x.length)
                    .filter(i -> drawable(x[i], logX) && drawable(y[i], logY)).toArray();
            return new Points(Arrays.stream(kept).mapToDouble(i -> x[i]).toArray(),
                    Arrays.stream(kept).mapToDouble(i -> y[i]).toArray());
        }

        /** The centered moving average over {@code window} points, shorter at both ends. */
        Points movingAverage(int window) {
            double[] prefix = new double[y.length + 1];
            for (int i = 0; i < y.length; i++) {
                prefix[i + 1] = prefix[i] + y[i];
            }
            double[] mean = new double[y.length];
            for (int i = 0; i < y.length; i++) {
                int from = Math.max(0, i - window / 2);
                int to = Math.min(y.length, i - window / 2 + window);
                mean[i] = (prefix[to] - prefix[from]) / (to - from);
            }
            return new Points(x, mean);
        }

        private static boolean drawable(double value, boolean log) {
            return Double.isFinite(value) && (!log || value > 0);
        }
    }
}
