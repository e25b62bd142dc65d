package ema4j.cli;

import ai.djl.Model;
import ema4j.cli.train.TrainingSession;
import ema4j.core.posthoc.Reconstruction;
import ema4j.io.posthoc.Snapshot;
import ema4j.training.posthoc.PostHocEma;
import ema4j.training.posthoc.ReconstructedEma;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.IntStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code ema4j posthoc}: the EMA of any length, reconstructed after training from the snapshots that
 * {@code train --posthoc-every} recorded (Karras et al., 2024, EDM2, Section 3.2).
 */
@Command(name = "posthoc", mixinStandardHelpOptions = true, sortOptions = false,
        subcommands = PostHocSweepCommand.class,
        description = "Reconstruct the power-function EMA of each target sigma_rel from the snapshots recorded by"
                + " 'train --posthoc-every N': solve the least-squares fit of the target's profile, then add the"
                + " snapshots up one file at a time into OUT/posthoc-sigma<S>.safetensors.")
final class PostHocCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--sigma-rel", split = ",", paramLabel = "S[,S...]",
            description = "The EMA lengths to reconstruct, each in (0, 0.3].")
    List<Double> sigmaRels;

    @Option(names = "--gamma", split = ",", paramLabel = "G[,G...]",
            description = "Or the power-function exponents to reconstruct, each > -0.5 (output named by gamma).")
    List<Double> gammas;

    @Option(names = "--exclude-sigma-rel", split = ",", paramLabel = "S[,S...]",
            description = "Leave out the snapshots of these tracked EMA lengths. Reconstructing a length that was"
                    + " tracked but left out checks the method: the output then gives the relative error against the"
                    + " EMA tracked directly.")
    List<Double> excluded = List.of();

    @Option(names = "--models",
            description = "Also save each reconstruction as the --model classifier's DJL model in OUT/models-sigma<S>/"
                    + " (as fmnist-ema), its BatchNorm recalibrated unless --bn-batches 0, for 'ema4j evaluate'.")
    boolean models;

    @Mixin
    PostHocOptions options = new PostHocOptions();

    @Override
    public Integer call() throws Exception {
        boolean bySigma = sigmaRels != null && !sigmaRels.isEmpty();
        boolean byGamma = gammas != null && !gammas.isEmpty();
        if (bySigma == byGamma) {
            throw new IllegalArgumentException("--sigma-rel or --gamma must name the EMA lengths to reconstruct, was "
                    + (bySigma ? "both" : "neither") + " (or use 'ema4j posthoc sweep')");
        }
        options.validate(models);
        PostHocEma postHoc = options.open(excluded);
        // Solve every target first, so a refused one stops the command before any file is written.
        Map<String, ReconstructedEma> solved = new LinkedHashMap<>();
        for (double target : bySigma ? sigmaRels : gammas) {
            solved.put((bySigma ? "sigma" : "gamma") + PostHocOptions.label(target),
                    PostHocOptions.reconstruct(postHoc, target, bySigma));
        }
        Path out = options.out;
        Files.createDirectories(out);
        PrintWriter stdout = spec.commandLine().getOut();
        long at = postHoc.step();
        stdout.printf(Locale.ROOT, "%d snapshots up to step %d in %s%s%n", postHoc.snapshots().size(), at,
                options.snapshots, excluded.isEmpty() ? "" : ", sigma_rel " + excluded + " left out");
        for (Map.Entry<String, ReconstructedEma> e : solved.entrySet()) {
            ReconstructedEma ema = e.getValue();
            Reconstruction r = ema.reconstruction();
            String label = e.getKey();
            Path file = out.resolve("posthoc-" + label + ".safetensors");
            ema.write(file);
            stdout.printf(Locale.ROOT, "sigma_rel %.3f (gamma %.3f) at step %d: residual %.2e, amplification %.2f,"
                    + " condition %.2e, least-squares sum %.4f%n  largest weights: %s%n  wrote %s%n",
                    r.target().sigmaRel(), r.target().gamma(), at, r.residual(), r.amplification(),
                    r.conditionNumber(), r.leastSquaresWeightSum(), largestWeights(ema), file);
            Optional<ReconstructedEma.TrackedError> error = ema.errorAgainstTracked();
            if (error.isPresent()) {
                stdout.printf(Locale.ROOT, "  vs the EMA tracked directly (%s): relative L2 error %.3e on the"
                        + " averaged parameters, %.3e with BatchNorm's running statistics (combined, before any"
                        + " recalibration)%n", error.get().tracked().file(), error.get().averagedTensors(),
                        error.get().allTensors());
            }
            if (models) {
                Path dir = out.resolve("models-" + label);
                try (Model model = options.model(ema)) {
                    Files.createDirectories(dir);
                    options.model.model.save(model, dir, TrainingSession.EMA_NAME);
                }
                stdout.printf("  wrote %s (%s); evaluate with 'ema4j evaluate --model %s %s'%n",
                        dir.resolve(TrainingSession.EMA_NAME + "-0000.params"), options.batchNormNote(),
                        options.model.model, dir);
            }
        }
        stdout.flush();
        return 0;
    }

    private static String largestWeights(ReconstructedEma ema) {
        List<Snapshot> chosen = ema.snapshots();
        double[] w = ema.reconstruction().weights();
        List<String> shown = IntStream.range(0, w.length).boxed()
                .sorted(Comparator.comparingDouble((Integer i) -> -Math.abs(w[i])))
                .limit(5)
                .map(i -> String.format(Locale.ROOT, "%+.4f x (step %d, sigma_rel %.3f)", w[i], chosen.get(i).step(),
                        chosen.get(i).sigmaRel()))
                .toList();
        return String.join(", ", shown) + (w.length > shown.size() ? ", ..." : "");
    }
}
