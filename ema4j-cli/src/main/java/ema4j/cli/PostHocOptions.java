package ema4j.cli;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.types.DataType;
import ai.djl.translate.TranslateException;
import ema4j.cli.train.FashionModel;
import ema4j.cli.train.TrainingSession;
import ema4j.training.posthoc.PostHocEma;
import ema4j.training.posthoc.ReconstructedEma;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
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
    ModelOptions model = new ModelOptions();

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
        if (bnBatches < 0) {
            throw new IllegalArgumentException("--bn-batches must be >= 0, was " + bnBatches);
        }
        if (models && bnBatches > 0 && model.model.hasBatchNorm()) {
            RecalibrateBnCommand.requireRecalibrationOptions(bnBatches, batchSize, trainLimit);
            data.files();   // fail on missing data before any work
        }
        if (models) {
            engine.configure();
        }
    }

    /** The snapshots of {@code --snapshots} up to {@code --step}, less those of the {@code excluded} lengths. */
    PostHocEma open(List<Double> excluded) throws IOException {
        try {
            PostHocEma.Builder builder = PostHocEma.builder(snapshots).excludeSigmaRels(excluded)
                    .maxResidual(maxResidual).maxAmplification(maxAmplification);
            if (step != null) {
                builder.step(step);
            }
            return builder.build();
        } catch (IllegalArgumentException e) {
            throw inOptionNames(e);
        }
    }

    /** The post-hoc EMA of {@code target}, a sigma_rel when {@code bySigmaRel}, otherwise a gamma; writes nothing. */
    static ReconstructedEma reconstruct(PostHocEma postHoc, double target, boolean bySigmaRel) {
        try {
            return bySigmaRel ? postHoc.reconstructSigmaRel(target) : postHoc.reconstructGamma(target);
        } catch (IllegalArgumentException e) {
            throw inOptionNames(e);
        }
    }

    /** The library's argument names and the options that set them. */
    private static final Map<String, String> OPTIONS = Map.of("snapshots", "--snapshots", "step", "--step",
            "excludedSigmaRels", "--exclude-sigma-rel", "maxResidual", "--max-residual", "maxAmplification",
            "--max-amplification", "sigmaRel", "--sigma-rel", "gamma", "--gamma");

    /** The library's refusal of an argument, reworded to name the option a person typed. */
    private static IllegalArgumentException inOptionNames(IllegalArgumentException e) {
        String message = String.valueOf(e.getMessage());
        for (Map.Entry<String, String> option : OPTIONS.entrySet()) {
            if (message.startsWith(option.getKey() + " must ")) {
                return new IllegalArgumentException(option.getValue() + message.substring(option.getKey().length()),
                        e);
            }
        }
        return e;
    }

    /**
     * The {@code --model} classifier with {@code ema} loaded and, when it has BatchNorm and unless
     * {@code --bn-batches 0}, its BatchNorm recalibrated; the caller closes it.
     */
    Model model(ReconstructedEma ema) throws IOException, TranslateException {
        FashionModel kind = model.model;
        Model result = Model.newInstance(TrainingSession.EMA_NAME, Device.cpu());
        try {
            result.setBlock(kind.block());
            result.getBlock().initialize(result.getNDManager(), DataType.FLOAT32, kind.input());
            try {
                ema.loadInto(result.getBlock());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--model must be the classifier whose training recorded "
                        + snapshots + ", was " + kind + ": " + e.getMessage(), e);
            }
            batchesUsed = 0;
            if (bnBatches > 0 && kind.hasBatchNorm()) {
                batchesUsed = RecalibrateBnCommand.recalibrate(result.getBlock(), result.getNDManager(), data.files(),
                        bnBatches, batchSize, trainLimit);
            }
            return result;
        } catch (IOException | TranslateException | RuntimeException e) {
            result.close();
            throw e;
        }
    }

    /** What the BatchNorm statistics of the last {@link #model} are, for a person. */
    String batchNormNote() {
        if (!model.model.hasBatchNorm()) {
            return "no BatchNorm in --model " + model.model;
        }
        return batchesUsed == 0 ? "BatchNorm statistics as combined"
                : "BatchNorm recalibrated over " + batchesUsed + " batches of " + batchSize;
    }

    /** The sigma_rel as it appears in file names: three decimals, e.g. 0.100. */
    static String label(double sigmaRel) {
        return String.format(Locale.ROOT, "%.3f", sigmaRel);
    }
}
