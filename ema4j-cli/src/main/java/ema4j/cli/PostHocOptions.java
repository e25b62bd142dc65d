package ema4j.cli;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.types.DataType;
import ai.djl.translate.TranslateException;
import ema4j.cli.interop.SafetensorsWeights;
import ema4j.demo.model.FashionCnn;
import ema4j.cli.train.TrainingSession;
import ema4j.core.posthoc.PowerFunctionProfile;
import ema4j.core.posthoc.Reconstruction;
import ema4j.io.posthoc.Snapshot;
import ema4j.io.posthoc.SnapshotStore;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** The options {@code posthoc} and {@code posthoc sweep} share: where the snapshots are, which step, and the BN pass. */
final class PostHocOptions {
    @Option(names = "--snapshots", paramLabel = "DIR",
            description = "The snapshot directory a training run wrote (OUT/posthoc of 'train --posthoc-every N').")
    Path snapshots;

    @Option(names = "--step", paramLabel = "N",
            description = "Reconstruct the EMA as it was after step N, from the snapshots up to N. Default: the last"
                    + " recorded step.")
    Long step;

    @Option(names = "--max-residual", defaultValue = "0.05",
            description = "Refuse a target whose profile the snapshots match worse than this relative L2 residual."
                    + " Default: ${DEFAULT-VALUE}.")
    double maxResidual;

    @Option(names = "--max-amplification", defaultValue = "1000",
            description = "Refuse a target whose snapshot weights' absolute values sum to more than this: such weights"
                    + " cancel large multiples of neighbouring snapshots and magnify their float32 rounding."
                    + " Default: ${DEFAULT-VALUE}.")
    double maxAmplification;

    @Option(names = {"--out", "-o"}, paramLabel = "DIR", description = "Where the results go.")
    Path out;

    @Option(names = "--bn-batches", defaultValue = "100", paramLabel = "K",
            description = "Recompute the BatchNorm statistics of each reconstructed model over K training batches (as"
                    + " 'ema4j recalibrate-bn'); 0 keeps the snapshots' combined statistics. Default: ${DEFAULT-VALUE}.")
    int bnBatches;

    @Option(names = "--batch-size", defaultValue = "128",
            description = "Batch size of the BatchNorm recalibration. Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--train-limit", defaultValue = "0",
            description = "Recalibrate on only the first N training images (0: all).")
    int trainLimit;

    @Mixin
    EngineOptions engine = new EngineOptions();

    @Mixin
    DataOptions data = new DataOptions();

    private int batchesUsed;

    /** Checks the options common to both commands; {@code models} says whether a model (and data) is needed. */
    void validate(boolean models) {
        if (snapshots == null) {
            throw new IllegalArgumentException("--snapshots must name the run's OUT/posthoc directory, was missing");
        }
        if (out == null) {
            throw new IllegalArgumentException("--out must name the output directory, was missing");
        }
        if (!(maxResidual >= 0)) {
            throw new IllegalArgumentException("--max-residual must be >= 0, was " + maxResidual);
        }
        if (!(maxAmplification >= 1)) {
            throw new IllegalArgumentException("--max-amplification must be >= 1, was " + maxAmplification);
        }
        if (bnBatches < 0) {
            throw new IllegalArgumentException("--bn-batches must be >= 0, was " + bnBatches);
        }
        if (models && bnBatches > 0) {
            RecalibrateBnCommand.requireRecalibrationOptions(bnBatches, batchSize, trainLimit);
            data.files();   // fail on missing data before any work
        }
        if (models) {
            engine.configure();
        }
    }

    /** The step reconstructed: {@code --step}, or the last recorded one. */
    long targetStep(SnapshotStore store) {
        long last = store.snapshots().stream().mapToLong(Snapshot::step).max().orElseThrow(() ->
                new IllegalArgumentException("--snapshots must hold at least one snapshot, was empty: " + snapshots));
        long at = step == null ? last : step;
        if (store.snapshotsUpTo(at).isEmpty()) {
            throw new IllegalArgumentException("--step must be >= the first recorded step "
                    + store.snapshots().stream().mapToLong(Snapshot::step).min().orElseThrow() + ", was " + at);
        }
        return at;
    }

    /** Solves for the weights of the snapshots up to {@code at} that reproduce {@code sigmaRel}. */
    Reconstruction solve(List<Snapshot> chosen, double sigmaRel, long at) {
        if (!(sigmaRel > 0 && sigmaRel <= PowerFunctionProfile.MAX_SIGMA_REL)) {
            throw new IllegalArgumentException("--sigma-rel must be in (0, " + PowerFunctionProfile.MAX_SIGMA_REL
                    + "], was " + sigmaRel);
        }
        return solveGamma(chosen, PowerFunctionProfile.gammaFromSigmaRel(sigmaRel), at);
    }

    /** Solves for the weights of the snapshots up to {@code at} that reproduce the exponent {@code gamma}. */
    Reconstruction solveGamma(List<Snapshot> chosen, double gamma, long at) {
        if (!(gamma > -0.5 && Double.isFinite(gamma))) {
            throw new IllegalArgumentException("--gamma must be > -0.5 (a square-integrable profile), was " + gamma);
        }
        return Reconstruction.solve(chosen.stream().map(Snapshot::profile).toList(),
                new PowerFunctionProfile(gamma, at), maxResidual, Reconstruction.DEFAULT_MAX_CONDITION_NUMBER,
                maxAmplification);
    }

    /**
     * The CNN with {@code weights} loaded and, unless {@code --bn-batches 0}, its BatchNorm recalibrated; the caller
     * closes it.
     */
    Model model(Path weights) throws IOException, TranslateException {
        Model model = Model.newInstance(TrainingSession.EMA_NAME, Device.cpu());
        try {
            model.setBlock(FashionCnn.block());
            model.getBlock().initialize(model.getNDManager(), DataType.FLOAT32, FashionCnn.INPUT);
            SafetensorsWeights.load(weights, model.getBlock(), null);
            batchesUsed = 0;
            if (bnBatches > 0) {
                batchesUsed = RecalibrateBnCommand.recalibrate(model.getBlock(), model.getNDManager(), data.files(), bnBatches,
                        batchSize, trainLimit);
            }
            return model;
        } catch (IOException | TranslateException | RuntimeException e) {
            model.close();
            throw e;
        }
    }

    /** What the BatchNorm statistics of the last {@link #model} are, for a person. */
    String batchNormNote() {
        return batchesUsed == 0 ? "BatchNorm statistics as combined"
                : "BatchNorm recalibrated over " + batchesUsed + " batches of " + batchSize;
    }

    /** The sigma_rel as it appears in file names: three decimals, e.g. 0.100. */
    static String label(double sigmaRel) {
        return String.format(Locale.ROOT, "%.3f", sigmaRel);
    }
}
