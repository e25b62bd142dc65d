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
 * The PNG charts of a training run, drawn with XChart: training and test loss, test accuracy, the decay schedule, the
 * post-hoc sweeps; and grids of a diffusion model's samples.
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
    private static final Color EMA_SEEDS = new Color(230, 110, 0, 120);
    private static final Color GRID = new Color(225, 225, 225);
    /** The side of a Fashion-MNIST image, in pixels. */
    private static final int IMAGE_SIDE = 28;
    /** Screen pixels per image pixel in {@link #sampleGrids}. */
    private static final int GRID_SCALE = 2;
    /** Space around and between the grids of {@link #sampleGrids}, in screen pixels. */
    private static final int GRID_MARGIN = 16;
    /** Height of the title row of {@link #sampleGrids}, in screen pixels. */
    private static final int GRID_TITLE = 32;
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
        addSweep(chart, sigmaRel, percent, List.of(new Reference("raw weights", 100 * rawAccuracy, RAW),
                new Reference(emaLabel, 100 * emaAccuracy, RAW_SMOOTHED)));
        write(BitmapEncoder.getBufferedImage(chart), png);
    }

    /**
     * Draws a diffusion model's sample distance against the sigma_rel of post-hoc EMAs: the mean over sampling seeds
     * as a line, the value of each sampling seed as a point, and the raw weights, the run's EMA and the noise floor
     * (real vs real images) as horizontal lines, into a {@value #WIDTH} x {@value #HEIGHT} PNG. The distance is the squared
     * Fréchet distance in a Fashion-MNIST classifier's features, not Inception FID; the chart says so.
     *
     * @param sigmaRel the reconstructed EMA lengths, increasing
     * @param meanDistance the mean distance of each over the sampling seeds; NaN for a target that was refused
     * @param seedDistances the distance of each length for every sampling seed, {@code seedDistances[i]} for
     *     {@code sigmaRel[i]}
     * @param raw the raw weights' mean distance, or NaN for no line
     * @param ema the run's EMA's mean distance, or NaN for no line
     * @param emaLabel the legend of the EMA line
     * @param noiseFloor the distance between real training and test images, or NaN for no line
     * @param png the file to write
     * @throws IOException when the file cannot be written
     */
    public static void diffusionSweep(double[] sigmaRel, double[] meanDistance, double[][] seedDistances, double raw,
            double ema, String emaLabel, double noiseFloor, Path png) throws IOException {
        requireArgument(sigmaRel != null && meanDistance != null && seedDistances != null
                && sigmaRel.length == meanDistance.length && sigmaRel.length == seedDistances.length,
                "sigmaRel, meanDistance and seedDistances", "non-null and of one length", null);
        requireArgument(png != null, "png", "non-null", null);
        XYChart chart = chart("Diffusion samples: Fréchet distance in classifier features (not Inception FID)",
                "sigma_rel of the post-hoc EMA", "squared Fréchet distance (lower is better)", HEIGHT);
        chart.getStyler().setLegendPosition(LegendPosition.InsideNE);
        addSweep(chart, sigmaRel, meanDistance, List.of(new Reference("raw weights", raw, RAW),
                new Reference(emaLabel, ema, RAW_SMOOTHED), new Reference("noise floor: real vs real", noiseFloor,
                        Color.GRAY)));
        double[] x = IntStream.range(0, sigmaRel.length).boxed()
                .flatMapToDouble(i -> Arrays.stream(seedDistances[i]).map(d -> sigmaRel[i])).toArray();
        double[] y = Arrays.stream(seedDistances).flatMapToDouble(Arrays::stream).toArray();
        Points seeds = new Points(x, y).finite(false, false);
        if (seeds.size() > 0) {
            XYSeries series = chart.addSeries("post-hoc EMA, each sampling seed", seeds.x, seeds.y);
            series.setXYSeriesRenderStyle(XYSeriesRenderStyle.Scatter);
            series.setMarker(SeriesMarkers.CIRCLE);
            series.setMarkerColor(EMA_SEEDS);
        }
        write(BitmapEncoder.getBufferedImage(chart), png);
    }

    /** A horizontal line across a sweep: a value that does not depend on sigma_rel. */
    private record Reference(String label, double value, Color color) {}

    /** Adds a post-hoc EMA's values against sigma_rel and the reference lines across the finite part of its span. */
    private static void addSweep(XYChart chart, double[] sigmaRel, double[] values, List<Reference> references) {
        add(chart, "post-hoc EMA", new Points(sigmaRel, values).finite(false, false), EMA, 2.5f,
                SeriesMarkers.DIAMOND);
        Points span = new Points(sigmaRel, sigmaRel).finite(false, false);
        if (span.size() > 0) {
            double[] ends = {Arrays.stream(span.x).min().orElseThrow(), Arrays.stream(span.x).max().orElseThrow()};
            for (Reference line : references) {
                add(chart, line.label(), new Points(ends, new double[] {line.value(), line.value()})
                        .finite(false, false), line.color(), 2f, SeriesMarkers.NONE);
            }
        }
    }

    /**
     * Draws image grids side by side, each under its title: e.g. samples of the raw weights, the EMA and the best
     * post-hoc EMA, {@code side} x {@code side} images each, every pixel drawn as 2 x 2
     * screen pixels.
     *
     * @param titles one title per grid
     * @param grids per grid, up to {@code side * side} grey images of 28 x 28 pixels in [0, 1], row by row
     * @param side images per row and column of a grid, {@code >= 1}
     * @param png the file to write
     * @throws IOException when the file cannot be written
     */
    public static void sampleGrids(List<String> titles, List<float[][]> grids, int side, Path png)
            throws IOException {
        requireArgument(titles != null && grids != null && titles.size() == grids.size() && !grids.isEmpty(),
                "titles and grids", "non-null, non-empty and of one length", null);
        requireArgument(side >= 1, "side", ">= 1", side);
        requireArgument(png != null, "png", "non-null", null);
        int panel = side * IMAGE_SIDE * GRID_SCALE;
        int width = grids.size() * (panel + GRID_MARGIN) + GRID_MARGIN;
        int height = GRID_TITLE + panel + GRID_MARGIN;
        BufferedImage image = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D graphics = image.createGraphics();
        try {
            graphics.setColor(Color.WHITE);
            graphics.fillRect(0, 0, width, height);
            graphics.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 15));
            graphics.setRenderingHint(java.awt.RenderingHints.KEY_TEXT_ANTIALIASING,
                    java.awt.RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            for (int g = 0; g < grids.size(); g++) {
                int left = GRID_MARGIN + g * (panel + GRID_MARGIN);
                graphics.setColor(Color.BLACK);
                graphics.drawString(titles.get(g), left, GRID_TITLE - 10);
                float[][] images = grids.get(g);
                for (int i = 0; i < Math.min(images.length, side * side); i++) {
                    requireArgument(images[i].length == IMAGE_SIDE * IMAGE_SIDE, "grids[" + g + "][" + i
                            + "] length", Integer.toString(IMAGE_SIDE * IMAGE_SIDE), images[i].length);
                    int x0 = left + (i % side) * IMAGE_SIDE * GRID_SCALE;
                    int y0 = GRID_TITLE + (i / side) * IMAGE_SIDE * GRID_SCALE;
                    for (int p = 0; p < images[i].length; p++) {
                        int grey = Math.round(255 * Math.max(0, Math.min(1, images[i][p])));
                        graphics.setColor(new Color(grey, grey, grey));
                        graphics.fillRect(x0 + (p % IMAGE_SIDE) * GRID_SCALE, y0 + (p / IMAGE_SIDE) * GRID_SCALE,
                                GRID_SCALE, GRID_SCALE);
                    }
                }
            }
        } finally {
            graphics.dispose();
        }
        write(image, png);
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
