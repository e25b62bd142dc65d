package ema4j.cli.interop;

import static ema4j.core.internal.Preconditions.requireState;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import ema4j.training.TrainingCheckpoint;
import ema4j.io.safetensors.SafetensorsFile;
import ema4j.io.safetensors.TensorEntry;
import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;

/**
 * A safetensors file's tensors put into a DJL block's parameters, matched by name, each shape and dtype checked.
 *
 * <p>Nothing is copied unless the whole file matches: every parameter of the block present, no tensor left over,
 * every shape and dtype equal. Otherwise one {@link IllegalArgumentException} lists the first differences of each
 * kind. Use it for weights from outside ema4j; a checkpoint's own weights go through {@link TrainingCheckpoint}.
 */
public final class SafetensorsWeights {
    private static final int SHOWN = 5;

    private SafetensorsWeights() {}

    /**
     * Copies the tensors of {@code file} into the parameters of {@code block} (BatchNorm statistics included).
     *
     * @param file a safetensors file
     * @param block an initialized block
     * @param fileToBlock renames the file's tensors to the block's parameter names, or null to take them as they are
     * @return how many parameters were loaded: all of the block's
     * @throws IllegalArgumentException when names, shapes or dtypes differ, listing the first differences, or the map
     *     does not fit the file
     * @throws ema4j.io.safetensors.SafetensorsFormatException when the file breaks the safetensors format
     * @throws IllegalStateException when the block is not initialized
     * @throws IOException when the file cannot be read
     */
    public static int load(Path file, Block block, TensorNameMap fileToBlock) throws IOException {
        Map<String, Parameter> parameters = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            requireState(p.getValue().isInitialized(), "the block must be initialized before loading " + file
                    + "; parameter " + p.getKey() + " is not");
            parameters.put(p.getKey(), p.getValue());
        }
        try (SafetensorsFile weights = SafetensorsFile.open(file)) {
            List<String> names = weights.tensors().stream().map(TensorEntry::name).toList();
            Map<String, String> renamed = fileToBlock == null
                    ? names.stream().collect(Collectors.toMap(Function.identity(), Function.identity(), (a, b) -> a,
                            LinkedHashMap::new))
                    : fileToBlock.rename(names, file.toString());
            requireMatch(file, weights, renamed, parameters);
            for (Map.Entry<String, String> e : renamed.entrySet()) {
                NDArray array = parameters.get(e.getValue()).getArray();
                java.nio.ByteBuffer values = weights.read(e.getKey()).order(ByteOrder.LITTLE_ENDIAN);
                requireFinite(file, e.getKey(), values, array.getDataType());
                try (NDArray loaded = array.getManager().create(values, array.getShape(), array.getDataType())) {
                    array.set(new NDIndex("..."), loaded);
                }
            }
        }
        return parameters.size();
    }

    /** Refuses a NaN or infinite weight, which would make every later result meaningless, naming where it is. */
    private static void requireFinite(Path file, String tensor, java.nio.ByteBuffer values,
            ai.djl.ndarray.types.DataType type) {
        int width = type == ai.djl.ndarray.types.DataType.FLOAT64 ? 8 : 4;
        if (type != ai.djl.ndarray.types.DataType.FLOAT32 && type != ai.djl.ndarray.types.DataType.FLOAT64) {
            return;
        }
        for (int i = 0; i < values.remaining() / width; i++) {
            int at = values.position() + width * i;
            double v = width == 8 ? values.getDouble(at) : values.getFloat(at);
            if (!Double.isFinite(v)) {
                throw new IllegalArgumentException("every weight of " + file + " must be finite, was " + v + " at "
                        + tensor + "[" + i + "]");
            }
        }
    }

    private static void requireMatch(Path file, SafetensorsFile weights, Map<String, String> renamed,
            Map<String, Parameter> parameters) {
        List<String> unexpected = new ArrayList<>();
        List<String> different = new ArrayList<>();
        Set<String> provided = new HashSet<>();
        for (Map.Entry<String, String> e : renamed.entrySet()) {
            String name = e.getKey().equals(e.getValue()) ? e.getKey() : e.getKey() + " (" + e.getValue() + ")";
            Parameter parameter = parameters.get(e.getValue());
            if (parameter == null) {
                unexpected.add(name);
                continue;
            }
            provided.add(e.getValue());
            TensorEntry tensor = weights.find(e.getKey()).orElseThrow();
            NDArray array = parameter.getArray();
            String expected = TrainingCheckpoint.dtype(e.getValue(), array.getDataType()) + " "
                    + Arrays.toString(array.getShape().getShape());
            String actual = tensor.dtype() + " " + Arrays.toString(tensor.shape());
            if (!actual.equals(expected)) {
                different.add(name + " is " + actual + ", the model's is " + expected);
            }
        }
        List<String> missing = parameters.keySet().stream().filter(n -> !provided.contains(n)).toList();
        if (missing.isEmpty() && unexpected.isEmpty() && different.isEmpty()) {
            return;
        }
        List<String> problems = new ArrayList<>();
        describe(problems, "missing", missing);
        describe(problems, "unexpected", unexpected);
        describe(problems, "different", different);
        throw new IllegalArgumentException("tensors of " + file + " must match the model's " + parameters.size()
                + " parameters by name, shape and dtype, was " + String.join("; ", problems));
    }

    private static void describe(List<String> problems, String kind, List<String> names) {
        if (names.isEmpty()) {
            return;
        }
        String shown = String.join(", ", names.subList(0, Math.min(SHOWN, names.size())));
        problems.add(kind + " " + names.size() + ": [" + shown + (names.size() > SHOWN ? ", ..." : "") + "]");
    }
}
