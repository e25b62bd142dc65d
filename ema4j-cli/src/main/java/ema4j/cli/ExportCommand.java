package ema4j.cli;

import ema4j.cli.interop.TensorNameMap;
import ema4j.training.TrainingCheckpoint;
import ema4j.io.checkpoint.Checkpoint;
import ema4j.io.safetensors.SafetensorsFile;
import ema4j.io.safetensors.SafetensorsWriter;
import ema4j.io.safetensors.TensorEntry;
import java.io.PrintWriter;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code ema4j export}: a checkpoint's EMA or raw weights as one safetensors file, optionally in PyTorch's names. */
@Command(name = "export", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Write a checkpoint's EMA (default) or raw weights as one safetensors file, replaced"
                + " atomically, with metadata format=pt, source=ema4j, weights and step.")
final class ExportCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "CHECKPOINT", description = "A checkpoint directory, e.g. OUT/checkpoints/step-000000000126.")
    Path directory;

    @Option(names = "--weights", defaultValue = "ema", paramLabel = "ema|raw",
            description = "Which weights: the EMA's or the live model's. Default: ${DEFAULT-VALUE}.")
    String weights;

    @Option(names = {"--out", "-o"}, required = true, paramLabel = "FILE", description = "The safetensors file to write.")
    Path out;

    @Option(names = "--map", paramLabel = "MAPFILE|" + TensorNameMap.FASHION_CNN_TORCH,
            description = "Rename tensors: a file of 'djl_name other_name' lines (# comments; - for none), or "
                    + TensorNameMap.FASHION_CNN_TORCH + " for PyTorch's names of the CNN (conv1.weight, bn1.weight,"
                    + " bn1.running_mean, ..., fc2.bias).")
    String map;

    @Override
    public Integer call() throws Exception {
        if (!weights.equals("ema") && !weights.equals("raw")) {
            throw new IllegalArgumentException("--weights must be ema or raw, was " + weights);
        }
        TensorNameMap names = map == null ? null : TensorNameMap.of(map);
        Checkpoint checkpoint = Checkpoint.open(directory);
        String file = weights.equals("ema") ? TrainingCheckpoint.EMA : TrainingCheckpoint.MODEL;
        if (!checkpoint.has(file)) {
            throw new IllegalArgumentException("--weights must be raw for a checkpoint without EMA weights (no "
                    + file + " in " + directory + "), was " + weights);
        }
        int count;
        try (SafetensorsFile source = checkpoint.tensors(file)) {
            Map<String, String> renamed = names == null
                    ? null : names.rename(source.tensors().stream().map(TensorEntry::name).toList(),
                            checkpoint.directory().resolve(file).toString());
            SafetensorsWriter writer = SafetensorsWriter.create().metadata("format", "pt").metadata("source", "ema4j")
                    .metadata("weights", weights).metadata("step", Long.toString(checkpoint.step()));
            count = 0;
            for (TensorEntry tensor : source.tensors()) {
                String name = renamed == null ? tensor.name() : renamed.get(tensor.name());
                if (name == null) {
                    continue;
                }
                // Streamed one tensor at a time while the source is open: no second copy of the model in memory.
                writer.tensor(name, tensor.dtype(), tensor.shape(), channel -> {
                    ByteBuffer bytes = source.read(tensor.name());
                    while (bytes.hasRemaining()) {
                        channel.write(bytes);
                    }
                });
                count++;
            }
            Path parent = out.toAbsolutePath().getParent();
            Files.createDirectories(parent);
            writer.write(out);
        }
        PrintWriter stdout = spec.commandLine().getOut();
        stdout.printf("wrote %s: %d tensors, %s weights of step %d%s%n", out, count,
                weights.equals("ema") ? "EMA" : "raw", checkpoint.step(), names == null ? "" : ", names from " + names);
        stdout.flush();
        return 0;
    }
}
