package ema4j.cli;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.Trainer;
import ai.djl.training.evaluator.Accuracy;
import ai.djl.training.loss.Loss;
import ai.djl.translate.TranslateException;
import ema4j.demo.data.FashionMnistDataset;
import ema4j.demo.data.Split;
import ema4j.cli.report.Plots;
import ema4j.cli.train.FashionModel;
import ema4j.cli.train.TrainingSession;
import ema4j.core.posthoc.Reconstruction;
import ema4j.djl.Evaluation;
import ema4j.training.posthoc.PostHocEma;
import ema4j.training.posthoc.ReconstructedEma;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code ema4j posthoc sweep}: the test accuracy of post-hoc EMAs over a range of sigma_rel, beside the raw weights
 * and the run's own EMA, as a table and a chart; names the best length.
 */
@Command(name = "sweep", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Reconstruct the post-hoc EMA for each sigma_rel, recalibrate its BatchNorm, evaluate it on the"
                + " test set, and print and plot accuracy vs sigma_rel (OUT/posthoc-sweep.png, OUT/posthoc-sweep.csv)"
                + " with the raw weights and the run's EMA (RUN/models) as reference lines.")
final class PostHocSweepCommand implements Callable<Integer> {
    /** The sweep's table, in OUT. */
    static final String CSV_FILE = "posthoc-sweep.csv";

    @Spec
    CommandSpec spec;

    @Option(names = "--sigma-rel", split = ",", paramLabel = "S[,S...]",
            defaultValue = "0.02,0.04,0.06,0.08,0.10,0.12,0.15,0.20,0.25",
            description = "The EMA lengths to evaluate, increasing. Default: ${DEFAULT-VALUE}.")
    List<Double> sigmaRels;

    @Option(names = "--run-models", paramLabel = "DIR",
            description = "The run's models directory for the reference lines. Default: the models directory beside"
                    + " --snapshots (RUN/models).")
    Path runModels;

    @Option(names = "--test-limit", defaultValue = "0", description = "Use only the first N test images (0: all).")
    int testLimit;

    @Mixin
    PostHocOptions options = new PostHocOptions();

    /** One line of the sweep: a sigma_rel and how its reconstruction did, or why it was refused. */
    private record Row(double sigmaRel, double residual, double amplification, double loss, double accuracy,
            String refused) {}

    @Override
    public Integer call() throws Exception {
        options.validate(true);
        if (testLimit < 0) {
            throw new IllegalArgumentException("--test-limit must be >= 0, was " + testLimit);
        }
        for (int i = 1; i < sigmaRels.size(); i++) {
            if (!(sigmaRels.get(i) > sigmaRels.get(i - 1))) {
                throw new IllegalArgumentException("--sigma-rel must be increasing, was " + sigmaRels);
            }
        }
        PostHocEma postHoc = options.open(List.of());
        Path out = options.out;
        Files.createDirectories(out);
        FashionMnistDataset test = testSet();
        PrintWriter stdout = spec.commandLine().getOut();
        stdout.printf(Locale.ROOT, "%d snapshots up to step %d in %s; %s%n", postHoc.snapshots().size(),
                postHoc.step(), options.snapshots, !options.model.model.hasBatchNorm() ? "no BatchNorm in --model "
                        + options.model.model : options.bnBatches == 0 ? "BatchNorm statistics as combined"
                        : "BatchNorm recalibrated over " + options.bnBatches + " batches");

        List<Row> rows = new ArrayList<>();
        for (double sigmaRel : sigmaRels) {
            ReconstructedEma ema;
            try {
                ema = PostHocOptions.reconstruct(postHoc, sigmaRel, true);
            } catch (IllegalArgumentException refused) {
                rows.add(new Row(sigmaRel, Double.NaN, Double.NaN, Double.NaN, Double.NaN, refused.getMessage()));
                continue;
            }
            ema.write(out.resolve("posthoc-sigma" + PostHocOptions.label(sigmaRel) + ".safetensors"));
            try (Model model = options.model(ema)) {
                Evaluation e = evaluate(model, test);
                Reconstruction r = ema.reconstruction();
                rows.add(new Row(sigmaRel, r.residual(), r.amplification(), e.loss(), e.metric("Accuracy"), null));
            }
        }
        Path models = runModels != null ? runModels
                : options.snapshots.toAbsolutePath().getParent().resolve(TrainingSession.MODELS);
        Evaluation raw = reference(options.model.model, models, TrainingSession.RAW_NAME, test);
        Evaluation ema = reference(options.model.model, models, TrainingSession.EMA_NAME, test);

        stdout.printf("%-10s  %9s  %13s  %10s  %9s%n", "sigma_rel", "residual", "amplification", "test loss",
                "accuracy");
        Row best = null;
        for (Row row : rows) {
            if (row.refused != null) {
                stdout.printf(Locale.ROOT, "%-10s  refused: %s%n", PostHocOptions.label(row.sigmaRel), row.refused);
                continue;
            }
            stdout.printf(Locale.ROOT, "%-10s  %9.2e  %13.2f  %10.4f  %8.2f%%%n", PostHocOptions.label(row.sigmaRel),
                    row.residual, row.amplification, row.loss, 100 * row.accuracy);
            if (best == null || row.accuracy > best.accuracy) {
                best = row;
            }
        }
        printReference(stdout, "raw", raw);
        printReference(stdout, "run's EMA", ema);
        if (best != null) {
            stdout.printf(Locale.ROOT, "best: sigma_rel %s, %.2f%% (reconstruct it with 'ema4j posthoc --snapshots %s"
                    + " --sigma-rel %s --model %s --out DIR --models')%n", PostHocOptions.label(best.sigmaRel),
                    100 * best.accuracy, options.snapshots, PostHocOptions.label(best.sigmaRel), options.model.model);
        }
        writeCsv(rows, out.resolve(CSV_FILE));
        Plots.posthocSweep(rows.stream().mapToDouble(Row::sigmaRel).toArray(),
                rows.stream().mapToDouble(Row::accuracy).toArray(), raw == null ? Double.NaN : raw.metric("Accuracy"),
                ema == null ? Double.NaN : ema.metric("Accuracy"), "run's EMA", out.resolve("posthoc-sweep.png"));
        stdout.printf("wrote %s, %s%n", out.resolve(CSV_FILE), out.resolve("posthoc-sweep.png"));
        stdout.flush();
        return 0;
    }

    private FashionMnistDataset testSet() throws IOException {
        FashionMnistDataset.Builder b = FashionMnistDataset.builder().files(options.data.files()).split(Split.TEST)
                .setSampling(500, false);
        if (testLimit > 0) {
            b.limit(testLimit);
        }
        FashionMnistDataset test = b.build();
        test.prepare(null);
        return test;
    }

    private static Evaluation evaluate(Model model, FashionMnistDataset test) throws IOException, TranslateException {
        try (Trainer trainer = model.newTrainer(new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                .addEvaluator(new Accuracy()).optDevices(new Device[] {Device.cpu()}))) {
            return Evaluation.of(trainer, test);
        }
    }

    /** The evaluation of a saved model of the run, or null when the run has none. */
    private static Evaluation reference(FashionModel kind, Path models, String name, FashionMnistDataset test)
            throws IOException, TranslateException {
        if (!Files.exists(models.resolve(name + "-0000.params"))) {
            return null;
        }
        try (Model model = Model.newInstance(name, Device.cpu())) {
            model.setBlock(kind.block());
            kind.load(model, models, name);
            return evaluate(model, test);
        }
    }

    private static void printReference(PrintWriter stdout, String label, Evaluation e) {
        if (e != null) {
            stdout.printf(Locale.ROOT, "%-10s  %9s  %13s  %10.4f  %8.2f%%%n", label, "", "", e.loss(),
                    100 * e.metric("Accuracy"));
        }
    }

    /** The sigma_rel and test accuracy of the most accurate reconstruction in a sweep's CSV, named {@code shownAs}. */
    static double[] best(Path csv, String shownAs) throws IOException {
        double[] best = null;
        List<String> lines = Files.readAllLines(csv);
        for (String line : lines.subList(1, lines.size())) {
            String[] cells = line.split(",");
            if (cells.length != 5) {
                throw new IllegalArgumentException(shownAs + " must have 5 columns in each row, was "
                        + cells.length + " in '" + line + "' of " + csv);
            }
            double sigmaRel = Double.parseDouble(cells[0]);
            double accuracy = Double.parseDouble(cells[4]);
            if (!Double.isNaN(accuracy) && (best == null || accuracy > best[1])) {
                best = new double[] {sigmaRel, accuracy};
            }
        }
        if (best == null) {
            throw new IllegalArgumentException(shownAs + " must hold an evaluated sigma_rel, was none in "
                    + csv);
        }
        return best;
    }

    private static void writeCsv(List<Row> rows, Path csv) throws IOException {
        StringBuilder text = new StringBuilder("sigma_rel,residual,amplification,test_loss,test_accuracy\n");
        for (Row row : rows) {
            text.append(String.format(Locale.ROOT, "%s,%s,%s,%s,%s%n", row.sigmaRel, row.residual, row.amplification,
                    row.loss, row.accuracy));
        }
        byte[] bytes = text.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8);
        ema4j.io.AtomicFiles.write(csv, channel -> channel.write(java.nio.ByteBuffer.wrap(bytes)));
    }
}
