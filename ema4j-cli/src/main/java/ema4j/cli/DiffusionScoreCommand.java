package ema4j.cli;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ema4j.cli.diffusion.DiffusionScore;
import ema4j.cli.diffusion.DiffusionTraining;
import ema4j.cli.diffusion.VerifiedClassifier;
import ema4j.cli.report.Plots;
import ema4j.cli.train.FashionModel;
import ema4j.core.posthoc.Reconstruction;
import ema4j.demo.data.FashionMnistFiles;
import ema4j.demo.data.Split;
import ema4j.demo.diffusion.DdimSampler;
import ema4j.demo.diffusion.NoiseSchedule;
import ema4j.io.AtomicFiles;
import ema4j.training.posthoc.PostHocEma;
import ema4j.training.posthoc.ReconstructedEma;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code ema4j diffusion score}: the squared Fréchet distance, in a hash-pinned Fashion-MNIST classifier's features,
 * between real test images and DDIM samples of the raw weights, the run's EMA and each post-hoc EMA of a sweep, per
 * sampling seed, beside the noise floor of real against real images. NOT Inception FID (Heusel et al. 2017): the
 * numbers compare models scored with the same classifier only.
 */
@Command(name = "score", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Score a 'diffusion train' run: draw --samples images with deterministic DDIM (Song et al."
                + " 2021) per sampling seed from the raw U-Net, the run's EMA and the post-hoc EMA of each --sigma-rel"
                + " (Karras et al. 2024; targets the snapshots cannot match are reported and skipped), and measure"
                + " the squared Fréchet distance to as many real test images in the features of a Fashion-MNIST"
                + " classifier, with the noise floor: as many real training images against the test images.",
                "The distance is NOT Inception FID and not comparable with published FIDs: the ruler is a small"
                + " classifier trained by this project ('ema4j train --model resnet'), loaded only if its SHA-256 is"
                + " --classifier-sha256, so that a changed classifier cannot silently change the metric.",
                "Writes OUT/diffusion-score.csv, OUT/diffusion-sweep.png and OUT/diffusion-samples.png."})
final class DiffusionScoreCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--run", required = true, paramLabel = "DIR", description = "The directory of 'diffusion train'.")
    Path run;

    @Option(names = "--classifier", required = true, paramLabel = "FILE",
            description = "The classifier's weights, e.g. OUT/models/fmnist-raw-0000.params of 'ema4j train'.")
    Path classifier;

    @Option(names = "--classifier-sha256", required = true, paramLabel = "HEX",
            description = "The SHA-256 the classifier file must have (sha256sum FILE); otherwise nothing is scored.")
    String classifierSha256;

    @Option(names = "--classifier-model", defaultValue = "resnet", paramLabel = "cnn|resnet|vit",
            description = "The classifier's architecture. Default: ${DEFAULT-VALUE}.")
    FashionModel classifierModel;

    @Option(names = "--samples", defaultValue = "2000", paramLabel = "N",
            description = "Images per variant and sampling seed, and real images on each side of the noise floor."
                    + " Default: ${DEFAULT-VALUE}.")
    int samples;

    @Option(names = "--ddim-steps", defaultValue = "50", description = "DDIM steps per image. Default: ${DEFAULT-VALUE}.")
    int ddimSteps;

    @Option(names = "--sigma-rel", split = ",", paramLabel = "S[,S...]",
            defaultValue = "0.03,0.05,0.07,0.10,0.12,0.15,0.20,0.25",
            description = "The post-hoc EMA lengths to score, increasing. Default: ${DEFAULT-VALUE}.")
    List<Double> sigmaRels;

    @Option(names = "--sampling-seeds", split = ",", defaultValue = "1,2", paramLabel = "S[,S...]",
            description = "The seeds of the starting noise; every variant is sampled with each. Default:"
                    + " ${DEFAULT-VALUE}.")
    List<Long> samplingSeeds;

    @Option(names = "--sampling-batch", defaultValue = "250",
            description = "Images through the U-Net at once. Default: ${DEFAULT-VALUE}.")
    int samplingBatch;

    @Option(names = {"--out", "-o"}, required = true, paramLabel = "DIR", description = "Where the results go.")
    Path out;

    @Mixin
    EngineOptions engine = new EngineOptions();

    @Mixin
    DataOptions data = new DataOptions();

    /** The name of the raw weights' variant in the table and the CSV. */
    static final String RAW = "raw";
    /** The name of the run's EMA's variant. */
    static final String EMA = "ema";
    /** The name of the post-hoc EMAs' variant. */
    static final String POSTHOC = "posthoc";
    /** The name of the noise floor's row. */
    static final String NOISE_FLOOR = "real-vs-real";

    /** One scored variant: a distance per sampling seed and its first samples, or why a target was refused. */
    private record Variant(String name, double sigmaRel, double residual, double amplification, double[] distances,
            float[][] grid, String refused) {
        double mean() {
            return Arrays.stream(distances).average().orElse(Double.NaN);
        }

        double spread() {
            return Arrays.stream(distances).max().orElse(Double.NaN) - Arrays.stream(distances).min().orElse(Double.NaN);
        }
    }

    @Override
    public Integer call() throws Exception {
        validate();
        Path models = run.resolve(DiffusionTraining.MODELS);
        for (String file : List.of(DiffusionTraining.RAW_FILE, DiffusionTraining.EMA_FILE)) {
            if (!Files.isRegularFile(models.resolve(file))) {
                throw new IllegalArgumentException("--run must be the directory of a finished 'diffusion train', was "
                        + run + " (no " + models.resolve(file) + ")");
            }
        }
        FashionMnistFiles files = data.files();
        engine.configure();
        PrintWriter stdout = spec.commandLine().getOut();
        try (VerifiedClassifier verified = VerifiedClassifier.open(classifier, classifierSha256, classifierModel);
                NDManager manager = NDManager.newBaseManager(Device.cpu())) {
            Path snapshots = run.resolve(DiffusionTraining.POSTHOC);
            PostHocEma postHoc = Files.isDirectory(snapshots) ? PostHocEma.builder(snapshots).build() : null;
            Files.createDirectories(out);
            stdout.printf(Locale.ROOT, "classifier %s (%s, sha256 %s); %d samples per variant and seed, %d DDIM steps,"
                    + " seeds %s%n", classifier, classifierModel, verified.sha256(), samples, ddimSteps, samplingSeeds);
            stdout.println("The distance is the squared Fréchet distance in this classifier's features: NOT Inception"
                    + " FID, not comparable with published FIDs.");
            DdimSampler sampler = DdimSampler.builder().schedule(NoiseSchedule.ddpm()).steps(ddimSteps)
                    .batchSize(samplingBatch).build();
            DiffusionScore score;
            double noiseFloor;
            try (NDManager real = manager.newSubManager()) {
                NDArray test = DiffusionScore.realImages(files, Split.TEST, samples, real);
                NDArray train = DiffusionScore.realImages(files, Split.TRAIN, samples, real);
                score = DiffusionScore.against(verified.features(), test, sampler);
                noiseFloor = score.noiseFloor(train);
            }
            stdout.printf(Locale.ROOT, "noise floor (%d train vs %d test images): %.4f%n", samples, samples,
                    noiseFloor);
            stdout.flush();

            List<Variant> variants = new ArrayList<>();
            variants.add(scoreFile(RAW, models.resolve(DiffusionTraining.RAW_FILE), score, manager, stdout));
            variants.add(scoreFile(EMA, models.resolve(DiffusionTraining.EMA_FILE), score, manager, stdout));
            if (postHoc == null) {
                stdout.printf("no post-hoc snapshots in %s ('diffusion train --posthoc-every K' records them)%n",
                        snapshots);
            } else {
                for (double sigmaRel : sigmaRels) {
                    variants.add(scorePostHoc(postHoc, sigmaRel, score, manager, stdout));
                }
            }
            report(variants, noiseFloor, stdout);
        }
        stdout.flush();
        return 0;
    }

    private void validate() {
        requirePositive("--samples", samples, 2, "a covariance needs two");
        requirePositive("--ddim-steps", ddimSteps, 1, "");
        requirePositive("--sampling-batch", samplingBatch, 1, "");
        if (samplingSeeds.isEmpty()) {
            throw new IllegalArgumentException("--sampling-seeds must name at least one seed, was none");
        }
        for (int i = 1; i < sigmaRels.size(); i++) {
            if (!(sigmaRels.get(i) > sigmaRels.get(i - 1))) {
                throw new IllegalArgumentException("--sigma-rel must be increasing, was " + sigmaRels);
            }
        }
        int schedule = NoiseSchedule.ddpm().steps();
        if (ddimSteps > schedule) {
            throw new IllegalArgumentException("--ddim-steps must be <= the schedule's " + schedule + " steps, was "
                    + ddimSteps);
        }
    }

    private static void requirePositive(String option, int value, int least, String why) {
        if (value < least) {
            throw new IllegalArgumentException(option + " must be >= " + least + (why.isEmpty() ? "" : " (" + why
                    + ")") + ", was " + value);
        }
    }

    private Variant scoreFile(String name, Path file, DiffusionScore score, NDManager manager, PrintWriter stdout)
            throws IOException {
        try (Model model = Model.newInstance(name, Device.cpu())) {
            DiffusionTraining.load(model, file);
            return sample(model, name, Double.NaN, Double.NaN, Double.NaN, score, manager, stdout);
        }
    }

    private Variant scorePostHoc(PostHocEma postHoc, double sigmaRel, DiffusionScore score, NDManager manager,
            PrintWriter stdout) throws IOException {
        ReconstructedEma ema;
        try {
            ema = PostHocOptions.reconstruct(postHoc, sigmaRel, true);
        } catch (IllegalArgumentException refused) {
            stdout.printf(Locale.ROOT, "%-8s %-9s refused (see the table)%n", POSTHOC, PostHocOptions.label(sigmaRel));
            return new Variant(POSTHOC, sigmaRel, Double.NaN, Double.NaN, new double[0], null, refused.getMessage());
        }
        try (Model model = Model.newInstance(POSTHOC, Device.cpu())) {
            model.setBlock(ema4j.demo.diffusion.FashionUNet.block());
            DiffusionTraining.initialize(model);
            ema.loadInto(model.getBlock());
            Reconstruction r = ema.reconstruction();
            return sample(model, POSTHOC, sigmaRel, r.residual(), r.amplification(), score, manager, stdout);
        }
    }

    /** Samples {@code model} with every seed and scores the samples. */
    private Variant sample(Model model, String name, double sigmaRel, double residual, double amplification,
            DiffusionScore score, NDManager manager, PrintWriter stdout) {
        double[] distances = new double[samplingSeeds.size()];
        float[][] grid = null;
        long start = System.nanoTime();
        for (int i = 0; i < distances.length; i++) {
            DiffusionScore.Sampled sampled = score.score(model.getBlock(), manager, samples, samplingSeeds.get(i));
            distances[i] = sampled.distance();
            grid = i == 0 ? sampled.grid() : grid;
        }
        stdout.printf(Locale.ROOT, "%-8s %-9s distance %s  (%.1f s per seed)%n", name,
                Double.isNaN(sigmaRel) ? "" : PostHocOptions.label(sigmaRel), Arrays.toString(Arrays.stream(distances)
                        .mapToObj(d -> String.format(Locale.ROOT, "%.4f", d)).toArray()),
                (System.nanoTime() - start) / 1e9 / distances.length);
        stdout.flush();
        return new Variant(name, sigmaRel, residual, amplification, distances, grid, null);
    }

    private void report(List<Variant> variants, double noiseFloor, PrintWriter stdout) throws IOException {
        stdout.printf("%n%-8s  %-9s  %13s  %10s  %9s  %13s%n", "variant", "sigma_rel", "mean distance",
                "spread", "residual", "amplification");
        for (Variant v : variants) {
            String sigma = Double.isNaN(v.sigmaRel()) ? "" : PostHocOptions.label(v.sigmaRel());
            if (v.refused() != null) {
                stdout.printf(Locale.ROOT, "%-8s  %-9s  refused: %s%n", v.name(), sigma, v.refused());
            } else {
                stdout.printf(Locale.ROOT, "%-8s  %-9s  %13.4f  %10.4f  %9s  %13s%n", v.name(), sigma, v.mean(),
                        v.spread(), Double.isNaN(v.residual()) ? "" : String.format(Locale.ROOT, "%.2e", v.residual()),
                        Double.isNaN(v.amplification()) ? "" : String.format(Locale.ROOT, "%.2f", v.amplification()));
            }
        }
        stdout.printf(Locale.ROOT, "%-8s  %-9s  %13.4f%n", "floor", "", noiseFloor);
        stdout.printf("(mean over %d sampling seed(s); spread = max - min over the seeds; floor = %d real training vs"
                + " %d real test images)%n", samplingSeeds.size(), samples, samples);
        List<Variant> posthoc = variants.stream().filter(v -> v.name().equals(POSTHOC) && v.refused() == null).toList();
        Variant best = posthoc.stream().min(Comparator.comparingDouble(Variant::mean)).orElse(null);
        if (best != null) {
            stdout.printf(Locale.ROOT, "best post-hoc EMA: sigma_rel %s, mean distance %.4f%n",
                    PostHocOptions.label(best.sigmaRel()), best.mean());
        }
        Variant raw = variants.get(0);
        Variant ema = variants.get(1);
        List<Variant> swept = variants.stream().filter(v -> v.name().equals(POSTHOC)).toList();
        Path csv = out.resolve("diffusion-score.csv");
        Path sweep = out.resolve("diffusion-sweep.png");
        Path grids = out.resolve("diffusion-samples.png");
        writeCsv(variants, noiseFloor, csv);
        Plots.diffusionSweep(swept.stream().mapToDouble(Variant::sigmaRel).toArray(),
                swept.stream().mapToDouble(Variant::mean).toArray(),
                swept.stream().map(Variant::distances).toArray(double[][]::new), raw.mean(), ema.mean(),
                "run's EMA (long warmup)", noiseFloor, sweep);
        List<String> titles = new ArrayList<>(List.of(title("raw weights", raw), title("run's EMA", ema)));
        List<float[][]> images = new ArrayList<>(List.of(raw.grid(), ema.grid()));
        if (best != null) {
            titles.add(title("post-hoc EMA sigma_rel " + PostHocOptions.label(best.sigmaRel()), best));
            images.add(best.grid());
        }
        Plots.sampleGrids(titles, images, DiffusionScore.GRID_SIDE, grids);
        stdout.printf("wrote %s, %s, %s (samples of sampling seed %d)%n", csv, sweep, grids, samplingSeeds.get(0));
    }

    private static String title(String what, Variant v) {
        return String.format(Locale.ROOT, "%s: %.2f", what, v.distances()[0]);
    }

    private void writeCsv(List<Variant> variants, double noiseFloor, Path csv) throws IOException {
        StringBuilder text = new StringBuilder("variant,sigma_rel,seed,distance,residual,amplification\n");
        for (Variant v : variants) {
            String sigma = Double.isNaN(v.sigmaRel()) ? "" : Double.toString(v.sigmaRel());
            if (v.refused() != null) {
                text.append(String.format(Locale.ROOT, "%s,%s,,NaN,NaN,NaN%n", v.name(), sigma));
            }
            for (int i = 0; i < v.distances().length; i++) {
                text.append(String.format(Locale.ROOT, "%s,%s,%d,%s,%s,%s%n", v.name(), sigma, samplingSeeds.get(i),
                        v.distances()[i], Double.isNaN(v.residual()) ? "" : v.residual(),
                        Double.isNaN(v.amplification()) ? "" : v.amplification()));
            }
        }
        text.append(String.format(Locale.ROOT, "%s,,,%s,,%n", NOISE_FLOOR, noiseFloor));
        byte[] bytes = text.toString().getBytes(StandardCharsets.UTF_8);
        AtomicFiles.write(csv, channel -> channel.write(ByteBuffer.wrap(bytes)));
    }
}
