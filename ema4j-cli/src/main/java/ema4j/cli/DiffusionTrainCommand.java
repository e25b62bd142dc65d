package ema4j.cli;

import ema4j.cli.diffusion.DiffusionTraining;
import ema4j.cli.train.ProgressReporter;
import ema4j.demo.data.FashionMnistFiles;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code ema4j diffusion train}: trains the diffusion U-Net with an EMA, post-hoc snapshots and exact resume. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train the small diffusion U-Net on Fashion-MNIST with the DDPM objective (Ho et al. 2020):"
                + " Adam at a constant learning rate, an EMA of the weights after every step, post-hoc EMA snapshots"
                + " (--posthoc-every), checkpoints that resume exactly (--resume latest). Writes OUT/checkpoints,"
                + " OUT/posthoc and, at the end, OUT/models/unet-raw.safetensors and unet-ema.safetensors.",
                "The run's EMA is the long warmup preset (power 2/3, at most 0.9999), the warmup of diffusion_policy's"
                + " loop: a practitioners' default from outside the power-function family, so that 'diffusion score'"
                + " can set it against the post-hoc sweep of power-function lengths (EDM2, Karras et al. 2024);"
                + " a run's EMA at sigma_rel 0.10 would only repeat one point of that sweep."})
final class DiffusionTrainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = {"--out", "-o"}, required = true, paramLabel = "DIR", description = "The run's directory.")
    Path out;

    @Option(names = "--epochs", defaultValue = "20",
            description = "Passes over the training images (20 of all 60,000 are 9,380 steps of batch 128)."
                    + " Default: ${DEFAULT-VALUE}.")
    int epochs;

    @Option(names = "--batch-size", defaultValue = "128", description = "Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(names = "--lr", defaultValue = "2e-4", description = "Adam's constant learning rate. Default: ${DEFAULT-VALUE}.")
    double learningRate;

    @Option(names = "--seed", defaultValue = "42",
            description = "Seed of initialization, data order, timesteps and noise. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--train-limit", defaultValue = "0", description = "Use only the first N training images (0: all).")
    int trainLimit;

    @Mixin
    CheckpointOptions checkpoints = new CheckpointOptions();

    @Mixin
    SnapshotOptions snapshots = new SnapshotOptions();

    @Mixin
    EngineOptions engine = new EngineOptions();

    @Mixin
    DataOptions data = new DataOptions();

    @Override
    public Integer call() throws Exception {
        FashionMnistFiles files = data.files();
        DiffusionTraining training = new DiffusionTraining(new DiffusionTraining.Settings(files, out, epochs,
                batchSize, learningRate, seed, trainLimit, checkpoints.every, checkpoints.keepLast,
                checkpoints.resume, snapshots.every, snapshots.sigmaRels, engine.threads), new ProgressReporter(System.out, System.console() != null,
                        (long) epochs * ((trainLimit > 0 ? trainLimit : 60_000) + batchSize - 1) / batchSize));
        engine.configure();
        Files.createDirectories(out);
        long start = System.nanoTime();
        training.run();
        double seconds = (System.nanoTime() - start) / 1e9;
        List<Double> losses = training.trainLoss();
        int tail = Math.max(1, losses.size() / 10);
        double recent = losses.subList(losses.size() - tail, losses.size()).stream().mapToDouble(d -> d).average()
                .orElse(Double.NaN);
        PrintWriter stdout = spec.commandLine().getOut();
        stdout.printf(Locale.ROOT, "%d steps; noise MSE %.4f over the last %d steps; this run took %.0f s%n",
                losses.size(), recent, tail, seconds);
        stdout.printf("Wrote %s: models/%s, models/%s, checkpoints/%s%n", out, DiffusionTraining.RAW_FILE,
                DiffusionTraining.EMA_FILE, snapshots.every == 0 ? "" : ", posthoc/");
        stdout.flush();
        return 0;
    }
}
