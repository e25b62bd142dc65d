package ema4j.cli;

import ai.djl.Model;
import ema4j.cli.train.TrainingSession;
import ema4j.core.posthoc.Reconstruction;
import ema4j.io.posthoc.Snapshot;
import ema4j.io.posthoc.SnapshotStore;
import ema4j.io.safetensors.SafetensorsFile;
import ema4j.io.safetensors.TensorEntry;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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
            description = "Also save each reconstruction as the CNN's DJL model in OUT/models-sigma<S>/ (as"
                    + " fmnist-ema), its BatchNorm recalibrated unless --bn-batches 0, for 'ema4j evaluate'.")
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
        SnapshotStore store = SnapshotStore.open(options.snapshots);
        long at = options.targetStep(store);
        List<Snapshot> chosen = store.snapshotsUpTo(at).stream()
                .filter(snapshot -> excluded.stream().noneMatch(x -> sameLength(x, snapshot.sigmaRel()))).toList();
        if (chosen.isEmpty()) {
            throw new IllegalArgumentException("--exclude-sigma-rel must leave some snapshots up to step " + at
                    + ", was " + excluded);
        }
        // Solve every target first, so a refused one stops the command before any file is written.
        Map<String, Reconstruction> solved = new LinkedHashMap<>();
        for (double target : bySigma ? sigmaRels : gammas) {
            solved.put(bySigma ? "sigma" + PostHocOptions.label(target) : "gamma" + PostHocOptions.label(target),
                    bySigma ? options.solve(chosen, target, at) : options.solveGamma(chosen, target, at));
        }
        Path out = options.out;
        Files.createDirectories(out);
        PrintWriter stdout = spec.commandLine().getOut();
        stdout.printf(Locale.ROOT, "%d snapshots up to step %d in %s%s%n", chosen.size(), at, options.snapshots,
                excluded.isEmpty() ? "" : ", sigma_rel " + excluded + " left out");
        for (Map.Entry<String, Reconstruction> e : solved.entrySet()) {
            Reconstruction r = e.getValue();
            String label = e.getKey();
            Path file = out.resolve("posthoc-" + label + ".safetensors");
            combine(store, chosen, r, at, file);
            stdout.printf(Locale.ROOT, "sigma_rel %.3f (gamma %.3f) at step %d: residual %.2e, amplification %.2f,"
                    + " condition %.2e, least-squares sum %.4f%n  largest weights: %s%n  wrote %s%n",
                    r.target().sigmaRel(), r.target().gamma(), at, r.residual(), r.amplification(),
                    r.conditionNumber(), r.leastSquaresWeightSum(), largestWeights(chosen, r), file);
            Snapshot direct = store.snapshots().stream()
                    .filter(s -> s.step() == at && sameLength(s.gamma(), r.target().gamma())).findFirst().orElse(null);
            if (direct != null) {
                stdout.printf(Locale.ROOT, "  vs the EMA tracked directly (%s): relative L2 error %.3e on the"
                        + " averaged parameters, %.3e with BatchNorm's running statistics (combined, before any"
                        + " recalibration)%n", direct.file(),
                        relativeError(file, store.pathOf(direct), PostHocCommand::averaged),
                        relativeError(file, store.pathOf(direct), name -> true));
            }
            if (models) {
                Path dir = out.resolve("models-" + label);
                try (Model model = options.model(file)) {
                    Files.createDirectories(dir);
                    model.save(dir, TrainingSession.EMA_NAME);
                }
                stdout.printf("  wrote %s (%s); evaluate with 'ema4j evaluate %s'%n",
                        dir.resolve(TrainingSession.EMA_NAME + "-0000.params"), options.batchNormNote(), dir);
            }
        }
        stdout.flush();
        return 0;
    }

    /** Writes the reconstruction's weighted sum of the snapshots, with the target in the file's metadata. */
    static void combine(SnapshotStore store, List<Snapshot> chosen, Reconstruction r, long at, Path file)
            throws java.io.IOException {
        store.combine(chosen, r.weights(), Map.of("sigma_rel", Double.toString(r.target().sigmaRel()),
                "gamma", Double.toString(r.target().gamma()), "step", Long.toString(at),
                "residual", Double.toString(r.residual())), file);
    }

    /** Whether a snapshot tensor is an EMA (every parameter but BatchNorm's running statistics). */
    static boolean averaged(String name) {
        return !name.contains("running");
    }

    private static boolean sameLength(double a, double b) {
        return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
    }

    /** ||a - b|| / ||b|| over the float32 tensors of {@code b} whose names {@code pick} accepts. */
    static double relativeError(Path a, Path b, java.util.function.Predicate<String> pick) throws IOException {
        double difference = 0;
        double norm = 0;
        try (SafetensorsFile fa = SafetensorsFile.open(a); SafetensorsFile fb = SafetensorsFile.open(b)) {
            for (TensorEntry t : fb.tensors()) {
                if (!pick.test(t.name())) {
                    continue;
                }
                FloatBuffer x = fa.read(t.name()).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
                FloatBuffer y = fb.read(t.name()).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
                for (int i = 0; i < y.limit(); i++) {
                    difference += Math.pow((double) x.get(i) - y.get(i), 2);
                    norm += Math.pow(y.get(i), 2);
                }
            }
        }
        return Math.sqrt(difference / norm);
    }

    private static String largestWeights(List<Snapshot> chosen, Reconstruction r) {
        double[] w = r.weights();
        List<String> shown = IntStream.range(0, w.length).boxed()
                .sorted(Comparator.comparingDouble((Integer i) -> -Math.abs(w[i])))
                .limit(5)
                .map(i -> String.format(Locale.ROOT, "%+.4f x (step %d, sigma_rel %.3f)", w[i], chosen.get(i).step(),
                        chosen.get(i).sigmaRel()))
                .toList();
        return String.join(", ", shown) + (w.length > shown.size() ? ", ..." : "");
    }
}
