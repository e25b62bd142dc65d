package ema4j.cli;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.translate.TranslateException;
import ema4j.demo.data.FashionMnistDataset;
import ema4j.demo.data.FashionMnistFiles;
import ema4j.demo.data.Split;
import ema4j.cli.interop.SafetensorsWeights;
import ema4j.training.EpochSampler;
import ema4j.cli.train.FashionModel;
import ema4j.cli.train.TrainingSession;
import ema4j.djl.BatchNormRecalibration;
import ema4j.training.TrainingCheckpoint;
import ema4j.io.checkpoint.Checkpoint;
import ema4j.io.checkpoint.Manifest;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * {@code ema4j recalibrate-bn}: BatchNorm running statistics recomputed for a saved model's weights over K training
 * batches, as PyTorch's {@code update_bn} does; for EMA and post-hoc weights, whose statistics came from other weights.
 */
@Command(name = "recalibrate-bn", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Recompute the BatchNorm running mean and variance of saved weights as the average batch"
                + " statistics over K training batches, and save the DJL model: in place for a models"
                + " directory, into --into for a checkpoint or a safetensors file.")
final class RecalibrateBnCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "WEIGHTS", description = "A models directory (train's OUT/models, posthoc's"
            + " models-sigma<S>), a checkpoint (OUT/checkpoints/step-N, its EMA or raw weights) or a safetensors file"
            + " with the model's parameter names (posthoc's posthoc-sigma<S>.safetensors, a snapshot).")
    Path models;

    @Mixin
    ModelOptions classifier = new ModelOptions();

    @Option(names = "--as", defaultValue = "ema", paramLabel = "ema|raw",
            description = "Which weights of a models directory or checkpoint to recalibrate. Default: ${DEFAULT-VALUE}.")
    WhichWeights as;

    @Option(names = "--batches", defaultValue = "100", paramLabel = "K",
            description = "Training batches to average over. Default: ${DEFAULT-VALUE}.")
    int batches;

    @Option(names = "--batch-size", defaultValue = "128", description = "Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--train-limit", defaultValue = "0", description = "Use only the first N training images (0: all).")
    int trainLimit;

    @Option(names = "--into", paramLabel = "DIR", description = "Save into DIR instead of replacing the model in a"
            + " models directory; required for a checkpoint or a file, which are never changed.")
    Path into;

    @Mixin
    EngineOptions engine = new EngineOptions();

    @Mixin
    DataOptions data = new DataOptions();

    @Override
    public Integer call() throws Exception {
        requireRecalibrationOptions(batches, batchSize, trainLimit);
        FashionModel kind = classifier.model;
        requireArgument(kind.hasBatchNorm(), "--model", "a model with BatchNorm (cnn or resnet)", kind);
        String name = as.modelName();
        Path weightsFile = weightsFile();
        if (weightsFile == null && !Files.exists(models.resolve(name + "-0000.params"))) {
            throw new IllegalArgumentException("WEIGHTS must be a models directory holding " + name
                    + "-0000.params, a checkpoint directory or a .safetensors file, was " + models);
        }
        if (weightsFile != null && into == null) {
            throw new IllegalArgumentException("--into must name the directory for the recalibrated model when"
                    + " WEIGHTS is a checkpoint or a file (they are never changed), was missing");
        }
        data.files();   // fail on missing data before any work
        engine.configure();
        Path target = into == null ? models : into;
        int used;
        try (Model model = Model.newInstance(name, Device.cpu())) {
            model.setBlock(kind.block());
            // A block that was only loaded has no input description and DJL's training-mode forward needs one.
            model.getBlock().initialize(model.getNDManager(), DataType.FLOAT32, kind.input());
            if (weightsFile == null) {
                kind.load(model, models, name);
            } else {
                SafetensorsWeights.load(weightsFile, model.getBlock(), null);
            }
            used = recalibrate(model.getBlock(), model.getNDManager(), data.files(), batches, batchSize, trainLimit);
            Files.createDirectories(target);
            kind.save(model, target, name);
        }
        PrintWriter out = spec.commandLine().getOut();
        out.printf("recalibrated BatchNorm over %d batches of %d; wrote %s%n", used, batchSize,
                target.resolve(name + "-0000.params"));
        out.flush();
        return 0;
    }

    /** The safetensors file to read for a checkpoint (verified first) or a file; null for a models directory. */
    private Path weightsFile() throws IOException {
        if (Files.isRegularFile(models)) {
            return models;
        }
        if (Files.isRegularFile(models.resolve(Manifest.FILE_NAME))) {
            Checkpoint checkpoint = Checkpoint.open(models);
            String file = as == WhichWeights.EMA ? TrainingCheckpoint.EMA : TrainingCheckpoint.MODEL;
            if (!checkpoint.has(file)) {
                throw new IllegalArgumentException("--as must name weights the checkpoint holds, was " + as + " ("
                        + models + " has no " + file + ")");
            }
            return models.resolve(file);
        }
        return null;
    }

    static void requireRecalibrationOptions(int batches, int batchSize, int trainLimit) {
        if (batches < 1) {
            throw new IllegalArgumentException("--batches must be >= 1, was " + batches);
        }
        if (batchSize < 2) {
            throw new IllegalArgumentException("--batch-size must be >= 2 (a variance needs two examples), was "
                    + batchSize);
        }
        if (trainLimit < 0) {
            throw new IllegalArgumentException("--train-limit must be >= 0, was " + trainLimit);
        }
    }

    /** The shuffle of the recalibration batches: fixed, so that recalibrating the same weights gives the same bits. */
    static final long SHUFFLE_SEED = 1;

    /**
     * Recalibrates {@code block} on shuffled Fashion-MNIST training batches, the same ones every time; returns the
     * batches used.
     */
    static int recalibrate(Block block, NDManager manager, FashionMnistFiles files, int batches, int batchSize,
            int trainLimit) throws IOException, TranslateException {
        FashionMnistDataset.Builder b = FashionMnistDataset.builder().files(files).split(Split.TRAIN)
                .setSampling(new EpochSampler(batchSize, SHUFFLE_SEED));
        if (trainLimit > 0) {
            b.limit(trainLimit);
        }
        FashionMnistDataset train = b.build();
        train.prepare(null);
        return BatchNormRecalibration.recalibrate(block, train, batches, manager);
    }
}
