package ema4j.cli;

import ema4j.cli.report.EvaluationRow;
import ema4j.cli.report.MetricsWriter;
import ema4j.cli.report.SummaryTable;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.function.ToDoubleFunction;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code ema4j compare}: mean and standard deviation of raw vs EMA results over several runs (e.g. seeds). */
@Command(name = "compare", mixinStandardHelpOptions = true,
        description = "Summarize several train output directories (e.g. one per seed): mean +- std of final and"
                + " best test accuracy and of the evaluated loss's step-to-step std (over the run, and over its second"
                + " half, where the early descent no longer counts), raw vs EMA; and, when every RUN"
                + " has RUN/sweep/posthoc-sweep.csv ('ema4j posthoc sweep --out RUN/sweep'), its best post-hoc EMA.")
final class CompareCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    /** Where a run's post-hoc sweep is, relative to the run. */
    static final String SWEEP_CSV = "sweep/" + PostHocSweepCommand.CSV_FILE;

    @Parameters(arity = "1..*", paramLabel = "RUN", description = "Output directories of train runs.")
    List<Path> runs;

    @Override
    public Integer call() throws Exception {
        List<SummaryTable> summaries = new ArrayList<>();
        List<SummaryTable> secondHalves = new ArrayList<>();
        for (Path run : runs) {
            Path csv = run.resolve(MetricsWriter.CSV_FILE_NAME);
            if (!Files.isRegularFile(csv)) {
                throw new IllegalArgumentException("RUN must be a train output directory with metrics.csv, was " + run);
            }
            List<EvaluationRow> rows = MetricsWriter.readCsv(csv);
            summaries.add(SummaryTable.of(rows));
            long half = rows.isEmpty() ? 0 : rows.get(rows.size() - 1).step() / 2;
            secondHalves.add(SummaryTable.of(rows.stream().filter(r -> r.step() > half).toList()));
        }
        PrintWriter out = spec.commandLine().getOut();
        out.printf("%d runs%n", summaries.size());
        out.printf("| %-34s | %-16s | %-16s |%n", "metric", "raw", "EMA");
        out.printf("|%s|%s|%s|%n", "-".repeat(36), "-".repeat(18), "-".repeat(18));
        row(out, "final test accuracy (%)", summaries, s -> 100 * s.finalRawAccuracy(), s -> 100 * s.finalEmaAccuracy());
        row(out, "best test accuracy (%)", summaries, s -> 100 * s.bestRawAccuracy(), s -> 100 * s.bestEmaAccuracy());
        row(out, "final test loss", summaries, SummaryTable::finalRawLoss, SummaryTable::finalEmaLoss);
        row(out, "test loss step-to-step std", summaries, SummaryTable::rawLossStepStd, SummaryTable::emaLossStepStd);
        row(out, "the same, 2nd half of the run", secondHalves, SummaryTable::rawLossStepStd,
                SummaryTable::emaLossStepStd);
        out.printf("EMA gain in final accuracy: %s percentage points%n",
                meanStd(summaries, s -> 100 * (s.finalEmaAccuracy() - s.finalRawAccuracy()), 2));
        printBestPostHoc(out, summaries);
        out.flush();
        return 0;
    }

    /** The best post-hoc EMA of each run's sweep, when every run has one; nothing otherwise. */
    private void printBestPostHoc(PrintWriter out, List<SummaryTable> summaries) throws IOException {
        List<double[]> best = new ArrayList<>();   // {sigma_rel, test accuracy} of each run
        for (Path run : runs) {
            Path csv = run.resolve(SWEEP_CSV);
            if (!Files.isRegularFile(csv)) {
                return;
            }
            best.add(PostHocSweepCommand.best(csv, "RUN's " + SWEEP_CSV));
        }
        List<String> chosen = best.stream().map(b -> PostHocOptions.label(b[0])).toList();
        double[] accuracy = best.stream().mapToDouble(b -> 100 * b[1]).toArray();
        double[] gain = new double[accuracy.length];
        for (int i = 0; i < gain.length; i++) {
            gain[i] = accuracy[i] - 100 * summaries.get(i).finalRawAccuracy();
        }
        out.printf("best post-hoc EMA (%s; sigma_rel chosen on the test set: %s): final test accuracy %s %%, gain"
                + " over raw %s percentage points%n", SWEEP_CSV, String.join(", ", chosen), meanStd(accuracy, 2),
                meanStd(gain, 2));
    }

    private static void row(PrintWriter out, String name, List<SummaryTable> s, ToDoubleFunction<SummaryTable> raw,
            ToDoubleFunction<SummaryTable> ema) {
        int digits = name.contains("%") ? 2 : 4;
        out.printf("| %-34s | %-16s | %-16s |%n", name, meanStd(s, raw, digits), meanStd(s, ema, digits));
    }

    /** Mean +- sample standard deviation, as text. */
    static String meanStd(List<SummaryTable> s, ToDoubleFunction<SummaryTable> f, int digits) {
        return meanStd(s.stream().mapToDouble(f).toArray(), digits);
    }

    private static String meanStd(double[] v, int digits) {
        double mean = 0;
        for (double x : v) {
            mean += x / v.length;
        }
        double ss = 0;
        for (double x : v) {
            ss += (x - mean) * (x - mean);
        }
        double std = v.length > 1 ? Math.sqrt(ss / (v.length - 1)) : 0;
        return String.format(java.util.Locale.ROOT, "%." + digits + "f ± %." + digits + "f", mean, std);
    }
}
