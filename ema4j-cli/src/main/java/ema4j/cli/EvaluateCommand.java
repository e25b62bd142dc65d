package ema4j.cli;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.Trainer;
import ai.djl.training.evaluator.Accuracy;
import ai.djl.training.loss.Loss;
import ema4j.demo.data.FashionMnistDataset;
import ema4j.demo.data.Split;
import ema4j.cli.train.TrainingSession;
import ema4j.djl.Evaluation;
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

/** {@code ema4j evaluate}: the test-set loss and accuracy of a saved run's raw and EMA weights. */
@Command(name = "evaluate", mixinStandardHelpOptions = true,
        description = "Evaluate the raw and EMA weights saved by 'train' on the Fashion-MNIST test set.")
final class EvaluateCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "MODELS", description = "A models directory written by train (OUT/models).")
    Path models;

    @Mixin
    ModelOptions classifier = new ModelOptions();

    @Option(names = "--test-limit", defaultValue = "0", description = "Use only the first N test images (0: all).")
    int testLimit;

    @Mixin
    EngineOptions engine = new EngineOptions();

    @Mixin
    DataOptions data = new DataOptions();

    @Override
    public Integer call() throws Exception {
        if (!Files.isDirectory(models)) {
            throw new IllegalArgumentException("MODELS must be a directory written by train (OUT/models), was " + models);
        }
        if (testLimit < 0) {
            throw new IllegalArgumentException("--test-limit must be >= 0, was " + testLimit);
        }
        if (!Files.exists(models.resolve(TrainingSession.RAW_NAME + "-0000.params"))
                && !Files.exists(models.resolve(TrainingSession.EMA_NAME + "-0000.params"))) {
            throw new IllegalArgumentException("MODELS must hold " + TrainingSession.RAW_NAME + "-0000.params or "
                    + TrainingSession.EMA_NAME + "-0000.params (train writes them to OUT/models), was " + models
                    + ", which holds neither");
        }
        engine.configure();
        FashionMnistDataset.Builder b = FashionMnistDataset.builder().files(data.files()).split(Split.TEST)
                .setSampling(500, false);
        if (testLimit > 0) {
            b.limit(testLimit);
        }
        FashionMnistDataset test = b.build();
        test.prepare(null);
        PrintWriter out = spec.commandLine().getOut();
        out.printf("%-8s  %10s  %9s%n", "weights", "test loss", "accuracy");
        for (String name : new String[] {TrainingSession.RAW_NAME, TrainingSession.EMA_NAME}) {
            if (!Files.exists(models.resolve(name + "-0000.params"))) {
                out.printf("%-8s  %10s  %9s%n", label(name), "-", "-");
                continue;
            }
            try (Model model = Model.newInstance(name, Device.cpu())) {
                model.setBlock(classifier.model.block());
                classifier.model.load(model, models, name);
                try (Trainer trainer = model.newTrainer(new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                        .addEvaluator(new Accuracy()).optDevices(new Device[] {Device.cpu()}))) {
                    Evaluation e = Evaluation.of(trainer, test);
                    out.printf("%-8s  %10.4f  %8.2f%%%n", label(name), e.loss(), 100 * e.metric("Accuracy"));
                }
            }
        }
        out.flush();
        return 0;
    }

    private static String label(String name) {
        return name.equals(TrainingSession.RAW_NAME) ? "raw" : "EMA";
    }
}
