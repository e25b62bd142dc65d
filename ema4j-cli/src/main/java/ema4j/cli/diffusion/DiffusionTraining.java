package ema4j.cli.diffusion;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.tracker.Tracker;
import ai.djl.translate.TranslateException;
import ai.djl.util.Pair;
import ema4j.cli.interop.SafetensorsWeights;
import ema4j.cli.train.ProgressReporter;
import ema4j.core.schedule.DecaySchedule;
import ema4j.core.schedule.Preset;
import ema4j.demo.data.FashionMnistDataset;
import ema4j.demo.data.FashionMnistFiles;
import ema4j.demo.data.Split;
import ema4j.demo.diffusion.DdpmTraining;
import ema4j.demo.diffusion.FashionUNet;
import ema4j.demo.diffusion.NoiseSchedule;
import ema4j.djl.EmaModel;
import ema4j.io.safetensors.SafetensorsWriter;
import ema4j.training.ChangedSettingsException;
import ema4j.training.TrainingLoop;
import ema4j.training.optim.CheckpointableAdam;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One training run of {@link FashionUNet} on Fashion-MNIST with the DDPM objective (Ho et al. 2020, "Denoising
 * Diffusion Probabilistic Models", algorithm 1) through {@link TrainingLoop}: Adam at a constant learning rate, the
 * run's EMA beside the weights, optional post-hoc EMA snapshots (Karras et al. 2024, EDM2, section 3.2), checkpoints
 * that resume exactly (each batch's timesteps and noise are drawn from the loop's (seed, step) seed), and at the end
 * both U-Nets as safetensors files in {@code out/models}.
 *
 * <p>The run's EMA is the long warmup preset ({@link Preset#LONG}: power 2/3, at most 0.9999), the warmup of
 * diffusion_policy's training loop: a practitioners' default from outside the power-function family, so that beside
 * a post-hoc sweep over power-function lengths it answers whether the usual warmup would have done as well as the
 * best length. A run's EMA at sigma_rel 0.10 would merely repeat one point of that sweep.
 *
 * <p>Not thread-safe; one run per instance.
 */
public final class DiffusionTraining {
    /** Directory under the output directory holding the checkpoints. */
    public static final String CHECKPOINTS = "checkpoints";
    /** Directory under the output directory holding the post-hoc EMA snapshots. */
    public static final String POSTHOC = "posthoc";
    /** Directory under the output directory holding the raw and the EMA U-Net. */
    public static final String MODELS = "models";
    /** File of the raw U-Net's weights in the models directory. */
    public static final String RAW_FILE = "unet-raw.safetensors";
    /** File of the EMA U-Net's weights in the models directory. */
    public static final String EMA_FILE = "unet-ema.safetensors";
    /** The run's EMA schedule (see the class comment for why this one). */
    public static final DecaySchedule EMA_SCHEDULE = Preset.LONG.schedule();

    private final Settings settings;
    private final ProgressReporter progress;
    private List<Double> trainLoss = List.of();

    /**
     * The options of a run, each checked by {@link #DiffusionTraining}.
     *
     * @param files where Fashion-MNIST is
     * @param out the run's directory
     * @param epochs passes over the training images, {@code >= 1}
     * @param batchSize images per step, {@code >= 1} and at most the training images
     * @param learningRate Adam's constant learning rate, {@code > 0}
     * @param seed the random seed of initialization, data order, timesteps and noise
     * @param trainLimit only the first this many training images, 0 for all
     * @param checkpointEvery checkpoint every this many steps besides the last, 0 for only the last
     * @param keepLast complete checkpoints kept, {@code >= 1}
     * @param resume null for a fresh run, {@code latest}, or a checkpoint directory
     * @param posthocEvery record post-hoc snapshots every this many steps, 0 for none
     * @param posthocSigmaRels the power-function EMA lengths the snapshots record
     * @param threads PyTorch's threads, part of the trajectory (results differ in the last bits between counts)
     */
    public record Settings(FashionMnistFiles files, Path out, int epochs, int batchSize, double learningRate,
            long seed, int trainLimit, int checkpointEvery, int keepLast, String resume, int posthocEvery,
            List<Double> posthocSigmaRels, int threads) {}

    /**
     * Checks the settings that need no data.
     *
     * @param settings the run's options
     * @param progress where the progress of the steps goes
     * @throws IllegalArgumentException naming the option of a value out of range
     */
    public DiffusionTraining(Settings settings, ProgressReporter progress) {
        requireArgument(settings.out() != null, "--out", "the run's directory", "missing");
        requireArgument(settings.epochs() >= 1, "--epochs", ">= 1", settings.epochs());
        requireArgument(settings.batchSize() >= 1, "--batch-size", ">= 1", settings.batchSize());
        requireArgument(settings.learningRate() > 0 && Double.isFinite(settings.learningRate()), "--lr",
                "> 0 and finite", settings.learningRate());
        requireArgument(settings.trainLimit() >= 0, "--train-limit", ">= 0", settings.trainLimit());
        requireArgument(settings.checkpointEvery() >= 0, "--checkpoint-every", ">= 0", settings.checkpointEvery());
        requireArgument(settings.keepLast() >= 1, "--keep-last", ">= 1", settings.keepLast());
        requireArgument(settings.posthocEvery() >= 0, "--posthoc-every", ">= 0", settings.posthocEvery());
        this.settings = settings;
        this.progress = progress;
    }

    /**
     * Trains to the last epoch (from the newest checkpoint with {@code resume latest}) and writes both U-Nets.
     *
     * @throws IllegalArgumentException when a resume is refused or the settings differ from the checkpoint's
     * @throws IOException when data, checkpoints, snapshots or models cannot be read or written
     */
    public void run() throws IOException, TranslateException {
        FashionMnistDataset.Builder data = FashionMnistDataset.builder().files(settings.files()).split(Split.TRAIN)
                .setSampling(settings.batchSize(), true);
        if (settings.trainLimit() > 0) {
            data.limit(settings.trainLimit());
        }
        FashionMnistDataset train = data.build();
        train.prepare(null);
        requireArgument(settings.batchSize() <= train.size(), "--batch-size", "at most the " + train.size()
                + " training images", settings.batchSize());
        DdpmTraining ddpm = new DdpmTraining(NoiseSchedule.ddpm());
        try (Model model = Model.newInstance("diffusion-unet", Device.cpu())) {
            model.setBlock(FashionUNet.block());
            TrainingLoop.Builder builder = TrainingLoop.builder(model)
                    .loss(DdpmTraining.loss())
                    .optimizer(CheckpointableAdam.builder()
                            .optLearningRateTracker(Tracker.fixed((float) settings.learningRate())).build())
                    .trainingData(train, settings.batchSize(), settings.epochs())
                    .inputShape(FashionUNet.IMAGES, FashionUNet.TIMESTEPS).seed(settings.seed())
                    .batchPreparation((batch, seed) -> {
                        DdpmTraining.NoisedBatch noised = ddpm.noise(batch.getData().singletonOrThrow(), seed);
                        return new TrainingLoop.Prepared(noised.inputs(), noised.labels());
                    })
                    .ema(EmaModel.builder(EMA_SCHEDULE))
                    .checkpoints(settings.out().resolve(CHECKPOINTS)).checkpointEvery(settings.checkpointEvery())
                    .keepLast(settings.keepLast()).resume(ProgressReporter.resume(settings.resume()))
                    .trajectory(trajectory())
                    .listener(progress.listener());
            if (settings.posthocEvery() > 0) {
                builder.postHoc(settings.posthocSigmaRels(), settings.posthocEvery(),
                        settings.out().resolve(POSTHOC));
            }
            try (TrainingLoop loop = builder.build()) {
                try {
                    loop.run();
                } catch (ChangedSettingsException e) {
                    throw new IllegalArgumentException("the settings of a resumed run must be the checkpoint's, for an"
                            + " exact continuation, was " + e.differences().size() + " different: "
                            + String.join("; ", e.differences()), e);
                }
                progress.finish();
                trainLoss = List.copyOf(loop.trainLoss());
                Path models = settings.out().resolve(MODELS);
                Files.createDirectories(models);
                write(model.getBlock(), models.resolve(RAW_FILE), "raw", loop.step());
                try (EmaModel.Swap swap = loop.ema().swapIn()) {
                    write(model.getBlock(), models.resolve(EMA_FILE), EMA_SCHEDULE.toString(), loop.step());
                }
            }
        }
    }

    /** The settings a resume must keep for an exact continuation, beside the loop's own. */
    private Map<String, Object> trajectory() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("objective", "DDPM noise MSE, " + NoiseSchedule.ddpm());
        m.put("learning rate", settings.learningRate());
        m.put("ema", EMA_SCHEDULE.toString());
        m.put("threads", settings.threads());
        return m;
    }


    /** The training loss of every step, those of a run resumed from included; empty before {@link #run}. */
    public List<Double> trainLoss() {
        return trainLoss;
    }

    /**
     * A fresh U-Net with the weights of a safetensors file that {@link #run} wrote (or any file of its tensors).
     *
     * @param model the model to hold the block; its manager owns the weights
     * @param file the weights
     * @throws IllegalArgumentException when the file's tensors are not the U-Net's by name, shape and dtype, or not
     *     finite
     * @throws IOException when the file cannot be read
     */
    public static void load(Model model, Path file) throws IOException {
        model.setBlock(FashionUNet.block());
        initialize(model);
        SafetensorsWeights.load(file, model.getBlock(), null);
    }

    /** Initializes the U-Net of {@code model} for loading weights into it. */
    public static void initialize(Model model) {
        model.getBlock().initialize(model.getNDManager(), DataType.FLOAT32, FashionUNet.IMAGES, FashionUNet.TIMESTEPS);
    }

    /** Writes every parameter of {@code block} by name as F32, atomically, with what the weights are and their step. */
    private static void write(Block block, Path file, String weights, long step) throws IOException {
        SafetensorsWriter writer = SafetensorsWriter.create().metadata("format", "pt").metadata("source", "ema4j")
                .metadata("model", "FashionUNet").metadata("weights", weights)
                .metadata("step", Long.toString(step));
        for (Pair<String, Parameter> p : block.getParameters()) {
            NDArray array = p.getValue().getArray();
            float[] values = array.toFloatArray();
            ByteBuffer bytes = ByteBuffer.allocate(values.length * Float.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            bytes.asFloatBuffer().put(values);
            writer.tensor(p.getKey(), "F32", array.getShape().getShape(), bytes);
        }
        writer.write(file);
    }
}
