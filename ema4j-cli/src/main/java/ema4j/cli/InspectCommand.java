package ema4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import ema4j.training.TrainingCheckpoint;
import ema4j.training.TrainingState;
import ema4j.io.checkpoint.Checkpoint;
import ema4j.io.checkpoint.Manifest;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code ema4j inspect}: verifies a checkpoint and shows its manifest and the EMA and training state it holds. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Verify a checkpoint (every file's size and SHA-256, every tensor) and show its manifest,"
                + " EMA state and training position.")
final class InspectCommand implements Callable<Integer> {
    private static final int SHORT_SHA = 12;

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "CHECKPOINT", description = "A checkpoint directory, e.g. OUT/checkpoints/step-000000000126.")
    Path directory;

    @Option(names = "--json", description = "Print the manifest and the state summary as JSON.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        Checkpoint checkpoint = Checkpoint.open(directory);
        Map<String, Object> state = stateSummary(checkpoint);
        PrintWriter out = spec.commandLine().getOut();
        if (json) {
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("checkpoint", checkpoint.directory().toString());
            result.put("manifest", checkpoint.manifest());
            result.put("state", state);
            out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(result));
        } else {
            printTable(out, checkpoint, state);
        }
        out.flush();
        return 0;
    }

    /** The EMA counters and training position from state.json, without the metric history it also keeps. */
    private static Map<String, Object> stateSummary(Checkpoint checkpoint) throws java.io.IOException {
        Map<String, Object> summary = new LinkedHashMap<>();
        if (!checkpoint.has(TrainingCheckpoint.STATE)) {
            return summary;
        }
        TrainingCheckpoint.verify(checkpoint);
        JsonNode state = checkpoint.json(TrainingCheckpoint.STATE);
        JsonNode ema = state.get("ema");
        if (ema != null) {
            Map<String, Object> e = new LinkedHashMap<>();
            e.put("schedule", ema.get("schedule"));
            e.put("updates", ema.get("updates"));
            e.put("skippedUpdates", ema.get("skippedUpdates"));
            e.put("lastDecay", ema.get("lastDecay"));
            summary.put("ema", e);
        }
        if (state.get("training") != null) {
            TrainingState.Position p = TrainingState.read(checkpoint).position();
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("step", p.step());
            t.put("epoch", p.epoch());
            t.put("batchInEpoch", p.batchInEpoch());
            t.put("examples", p.examples());
            summary.put("training", t);
        }
        return summary;
    }

    private static void printTable(PrintWriter out, Checkpoint checkpoint, Map<String, Object> state) {
        Manifest m = checkpoint.manifest();
        out.printf("checkpoint  %s (verified)%n", checkpoint.directory());
        out.printf("format      %d%n", m.formatVersion());
        out.printf("library     %s%n", m.library());
        out.printf("step        %d%n", m.step());
        out.printf("run         %s%n", m.runId());
        out.printf("created at  %s%n", m.createdAt());
        if (state.get("ema") instanceof Map<?, ?> ema) {
            JsonNode decay = (JsonNode) ema.get("lastDecay");
            out.printf("EMA         %s updates (%s skipped), last decay %s, schedule %s%n", ema.get("updates"),
                    ema.get("skippedUpdates"), decay == null || decay.isNull() ? "-"
                            : String.format("%.6f", decay.asDouble()), ema.get("schedule"));
        } else {
            out.printf("EMA         none%n");
        }
        if (state.get("training") instanceof Map<?, ?> t) {
            out.printf("training    step %s, resumes at epoch %s batch %s, %s examples seen%n", t.get("step"),
                    t.get("epoch"), t.get("batchInEpoch"), t.get("examples"));
        }
        int fileWidth = Math.max(4, m.files().stream().mapToInt(f -> f.name().length()).max().orElse(0));
        out.println();
        out.printf("%-" + fileWidth + "s  %12s  %s%n", "file", "bytes", "sha256");
        for (Manifest.FileEntry f : m.files()) {
            out.printf("%-" + fileWidth + "s  %12d  %s%n", f.name(), f.bytes(),
                    f.sha256().substring(0, Math.min(SHORT_SHA, f.sha256().length())));
        }
        int nameWidth = Math.max(6, m.tensors().stream().mapToInt(t -> t.name().length()).max().orElse(0));
        out.println();
        out.printf("%-" + fileWidth + "s  %-" + nameWidth + "s  %-5s  %s%n", "file", "tensor", "dtype", "shape");
        for (Manifest.TensorRecord t : m.tensors()) {
            out.printf("%-" + fileWidth + "s  %-" + nameWidth + "s  %-5s  %s%n", t.file(), t.name(), t.dtype(),
                    t.shape());
        }
    }
}
