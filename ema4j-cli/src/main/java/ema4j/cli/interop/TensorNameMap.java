package ema4j.cli.interop;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Renames tensors between DJL's parameter names and another framework's, as a mapping file or the built-in
 * {@value #FASHION_CNN_TORCH} map says.
 *
 * <p>A mapping file has one {@code djl_name other_name} pair per line; blank lines and {@code #} comments are
 * ignored. A {@code -} on one side means the tensor has no counterpart on the other and is left out: PyTorch's
 * {@code num_batches_tracked}, which DJL's BatchNorm does not keep, is {@code - bn1.num_batches_tracked}. Tensors the
 * map does not name keep their names. Every error names the map and the line. Immutable and thread-safe.
 */
public final class TensorNameMap {
    /** The built-in map from {@code FashionCnn}'s DJL names to its PyTorch twin's (see {@link #of}). */
    public static final String FASHION_CNN_TORCH = "fashion-cnn-torch";
    private static final String NONE = "-";

    // The PyTorch twin is nn.Sequential(OrderedDict(conv1, bn1, relu1, pool1, conv2, bn2, relu2, pool2, flatten,
    // fc1, relu3, fc2)); DJL numbers a SequentialBlock's children 01..12 and names BatchNorm's weight gamma, its
    // bias beta. Conv2d and Linear weights have the same layout in both: (out, in, kh, kw) and (out, in).
    private static final String FASHION_CNN_TORCH_TEXT = """
            # FashionCnn (DJL)           PyTorch
            01Conv2d_weight              conv1.weight
            01Conv2d_bias                conv1.bias
            02BatchNorm_gamma            bn1.weight
            02BatchNorm_beta             bn1.bias
            02BatchNorm_runningMean      bn1.running_mean
            02BatchNorm_runningVar       bn1.running_var
            -                            bn1.num_batches_tracked
            05Conv2d_weight              conv2.weight
            05Conv2d_bias                conv2.bias
            06BatchNorm_gamma            bn2.weight
            06BatchNorm_beta             bn2.bias
            06BatchNorm_runningMean      bn2.running_mean
            06BatchNorm_runningVar       bn2.running_var
            -                            bn2.num_batches_tracked
            10Linear_weight              fc1.weight
            10Linear_bias                fc1.bias
            12Linear_weight              fc2.weight
            12Linear_bias                fc2.bias
            """;

    private final String source;
    private final List<Entry> entries;

    /** One line of a map: {@code from} becomes {@code to}; either may be {@link #NONE}. */
    private record Entry(int line, String from, String to) {}

    private TensorNameMap(String source, List<Entry> entries) {
        this.source = source;
        this.entries = List.copyOf(entries);
    }

    /**
     * The built-in map called {@code spec}, or else the mapping file at path {@code spec}.
     *
     * <p>{@value #FASHION_CNN_TORCH} maps {@code FashionCnn} to {@code nn.Sequential} with children named conv1, bn1,
     * relu1, pool1, conv2, bn2, relu2, pool2, flatten, fc1, relu3, fc2: {@code 01Conv2d_weight -> conv1.weight},
     * {@code 02BatchNorm_gamma -> bn1.weight}, {@code 02BatchNorm_runningMean -> bn1.running_mean}, ...
     *
     * @param spec {@value #FASHION_CNN_TORCH} or a file path
     * @return the map, from DJL names to the other framework's
     * @throws IllegalArgumentException when there is no such file, or a line is malformed or names a tensor twice
     * @throws IOException when the file cannot be read
     */
    public static TensorNameMap of(String spec) throws IOException {
        if (FASHION_CNN_TORCH.equals(spec)) {
            return parse(FASHION_CNN_TORCH, FASHION_CNN_TORCH_TEXT);
        }
        Path file = Path.of(spec);
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("--map must be " + FASHION_CNN_TORCH + " or a mapping file, was "
                    + spec + " (no such file)");
        }
        return parse(spec, Files.readString(file));
    }

    /**
     * Parses mapping text.
     *
     * @param source what errors call the map, e.g. its file name
     * @param text the lines
     * @return the map, from the left column's names to the right column's
     * @throws IllegalArgumentException naming the line that is malformed or names a tensor twice
     */
    public static TensorNameMap parse(String source, String text) {
        List<Entry> entries = new ArrayList<>();
        Map<String, Integer> fromLine = new HashMap<>();
        Map<String, Integer> toLine = new HashMap<>();
        String[] lines = text.split("\\R", -1);
        for (int i = 0; i < lines.length; i++) {
            int line = i + 1;
            int hash = lines[i].indexOf('#');
            String content = (hash >= 0 ? lines[i].substring(0, hash) : lines[i]).strip();
            if (content.isEmpty()) {
                continue;
            }
            String[] parts = content.split("\\s+");
            if (parts.length != 2 || (parts[0].equals(NONE) && parts[1].equals(NONE))) {
                throw new IllegalArgumentException(source + " line " + line + " must be 'djl_name other_name'"
                        + " (- for none on one side), was '" + lines[i].strip() + "'");
            }
            requireOnce(source, line, "DJL", parts[0], fromLine);
            requireOnce(source, line, "other", parts[1], toLine);
            entries.add(new Entry(line, parts[0], parts[1]));
        }
        return new TensorNameMap(source, entries);
    }

    private static void requireOnce(String source, int line, String side, String name, Map<String, Integer> seen) {
        if (name.equals(NONE)) {
            return;
        }
        Integer first = seen.putIfAbsent(name, line);
        if (first != null) {
            throw new IllegalArgumentException(source + " line " + line + " must name each " + side
                    + " tensor once, was '" + name + "' again (first on line " + first + ")");
        }
    }

    /** The same map read right to left: other framework's names to DJL's. */
    public TensorNameMap reversed() {
        return new TensorNameMap(source, entries.stream().map(e -> new Entry(e.line, e.to, e.from)).toList());
    }

    /**
     * The new name of each of {@code names}, in their order; tensors the map leaves out ({@code -}) are absent.
     *
     * @param names the tensors of one file or model, each once
     * @param owner what holds them, for error messages (e.g. a file)
     * @return old name to new name
     * @throws IllegalArgumentException when a line names a tensor {@code owner} lacks, or two tensors would get one
     *     name
     */
    public Map<String, String> rename(Collection<String> names, String owner) {
        Set<String> present = new HashSet<>(names);
        Map<String, Entry> byFrom = new HashMap<>();
        for (Entry e : entries) {
            if (e.from.equals(NONE)) {
                continue;
            }
            // A tensor to leave out may be absent already: our own exports carry no num_batches_tracked.
            if (!present.contains(e.from) && !e.to.equals(NONE)) {
                throw new IllegalArgumentException(source + " line " + e.line + " must name a tensor of " + owner
                        + ", was '" + e.from + "'");
            }
            byFrom.put(e.from, e);
        }
        Map<String, String> renamed = new LinkedHashMap<>();
        Map<String, String> takenBy = new HashMap<>();
        for (String name : names) {
            Entry e = byFrom.get(name);
            if (e != null && e.to.equals(NONE)) {
                continue;
            }
            String target = e == null ? name : e.to;
            String earlier = takenBy.putIfAbsent(target, name);
            if (earlier != null) {
                throw new IllegalArgumentException("tensor names after " + source + " must be unique, was '" + target
                        + "' for both '" + earlier + "' and '" + name + "' of " + owner);
            }
            renamed.put(name, target);
        }
        return renamed;
    }

    /** The map's source: its file or its built-in name. */
    @Override
    public String toString() {
        return source;
    }
}
