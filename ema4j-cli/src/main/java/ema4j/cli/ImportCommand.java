package ema4j.cli;

import ai.djl.Device;
import ai.djl.Model;
import ai.djl.ndarray.types.DataType;
import ema4j.cli.interop.SafetensorsWeights;
import ema4j.cli.interop.TensorNameMap;
import ema4j.cli.train.TrainingSession;
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

/** {@code ema4j import}: safetensors weights saved as a classifier's DJL model, for {@code ema4j evaluate}. */
@Command(name = "import", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Load a safetensors file into the classifier (--model), checking every name, shape and dtype,"
                + " and save it as DJL parameters (fmnist-ema-0000.params or fmnist-raw-0000.params) in MODELS_DIR,"
                + " so that 'ema4j evaluate --model M MODELS_DIR' evaluates it.")
final class ImportCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "FILE", description = "A safetensors file, e.g. written by 'ema4j export' or by PyTorch.")
    Path file;

    @Option(names = "--into", required = true, paramLabel = "MODELS_DIR",
            description = "The models directory to save into; created if missing.")
    Path into;

    @Mixin
    ModelOptions classifier = new ModelOptions();

    @Option(names = "--as", defaultValue = "ema", paramLabel = "ema|raw",
            description = "Save as the EMA or the raw model. Default: ${DEFAULT-VALUE}.")
    WhichWeights as;

    @Option(names = "--map", paramLabel = "MAPFILE|" + TensorNameMap.FASHION_CNN_TORCH,
            description = "The map export used (applied in reverse: other names to DJL's), or "
                    + TensorNameMap.FASHION_CNN_TORCH + " for PyTorch's names of the CNN.")
    String map;

    @Override
    public Integer call() throws Exception {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("FILE must be a safetensors file, was " + file + " (no such file)");
        }
        TensorNameMap toDjl = map == null ? null : TensorNameMap.of(map).reversed();
        String name = as.modelName();
        int count;
        try (Model model = Model.newInstance(name, Device.cpu())) {
            model.setBlock(classifier.model.block());
            model.getBlock().initialize(model.getNDManager(), DataType.FLOAT32, classifier.model.input());
            count = SafetensorsWeights.load(file, model.getBlock(), toDjl);
            Files.createDirectories(into);
            classifier.model.save(model, into, name);
        }
        PrintWriter out = spec.commandLine().getOut();
        out.printf("wrote %s: %d parameters from %s; evaluate with 'ema4j evaluate --model %s %s'%n",
                into.resolve(name + "-0000.params"), count, file, classifier.model, into);
        out.flush();
        return 0;
    }
}
