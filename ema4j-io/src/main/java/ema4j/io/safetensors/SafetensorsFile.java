package ema4j.io.safetensors;

import static ema4j.core.internal.Preconditions.requireArgument;
import static ema4j.core.internal.Preconditions.requireState;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.CharBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * An open safetensors file: its header, validated in full by {@link #open}, and its tensors, read on demand.
 *
 * <p>Written for files from anywhere: every length is checked against the file size before anything is allocated,
 * and every way the header can lie (bad UTF-8 or JSON, duplicate names, unknown dtypes, overflowing shapes, byte
 * ranges that overlap, leave gaps or miss the data section) is a {@link SafetensorsFormatException} naming the file
 * and the problem. We do not use DJL's {@code NDList.decode}: it keeps offsets in 32 bits, silently drops duplicate
 * names and does not validate hostile input, and it would pull DJL into the IO module.
 *
 * <p>Reads use positional channel reads, so several threads may read tensors at once; close once, when done.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** The header key of the free-form string metadata. */
    static final String METADATA_KEY = "__metadata__";
    /** The largest header the format's reference implementation accepts. */
    static final long MAX_HEADER_BYTES = 100_000_000L;
    /** The largest array the JVM reliably allocates, hence the largest tensor one ByteBuffer holds. */
    static final int MAX_BUFFER_BYTES = Integer.MAX_VALUE - 8;
    private static final int MAX_QUOTED_CHARS = 60;

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private final Path path;
    private final FileChannel channel;
    private final List<TensorEntry> tensors;
    private final Map<String, TensorEntry> byName;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, FileChannel channel, List<TensorEntry> tensors, Map<String, String> metadata) {
        this.path = path;
        this.channel = channel;
        this.tensors = List.copyOf(tensors);
        this.metadata = Collections.unmodifiableMap(metadata);
        Map<String, TensorEntry> index = new HashMap<>();
        for (TensorEntry tensor : tensors) {
            index.put(tensor.name(), tensor);
        }
        this.byName = index;
    }

    /**
     * Opens {@code path} and validates its whole header; the tensors' bytes are read later, on demand.
     *
     * @param path a safetensors file
     * @return the open file; close it
     * @throws SafetensorsFormatException when the file breaks the format, with the file and the problem
     * @throws IOException when the file cannot be read
     */
    public static SafetensorsFile open(Path path) throws IOException {
        FileChannel channel = FileChannel.open(path, StandardOpenOption.READ);
        try {
            return new Parser(path, channel).parse();
        } catch (IOException | RuntimeException | Error e) {
            try {
                channel.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** The file's tensors in the order of their bytes in the file. */
    public List<TensorEntry> tensors() {
        return tensors;
    }

    /** The {@code __metadata__} entries in header order; empty when the file has none. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** The tensor called {@code name}, or empty when the file has none by that name. */
    public Optional<TensorEntry> find(String name) {
        return Optional.ofNullable(byName.get(name));
    }

    /**
     * Reads tensor {@code name} into a new heap buffer, little-endian ordered, positioned at 0.
     *
     * @param name one of the file's tensors
     * @return exactly the tensor's bytes
     * @throws IllegalArgumentException when the file has no such tensor, or it is larger than one buffer holds
     *     ({@code 2^31 - 9} bytes)
     * @throws IOException when reading fails
     */
    public ByteBuffer read(String name) throws IOException {
        TensorEntry tensor = entry(name);
        requireArgument(tensor.byteLength() <= MAX_BUFFER_BYTES, "byte length of tensor '" + name + "'",
                "<= " + MAX_BUFFER_BYTES + " to fit one ByteBuffer; read it in parts with read(name, target)",
                tensor.byteLength());
        ByteBuffer buffer = ByteBuffer.allocate((int) tensor.byteLength()).order(ByteOrder.LITTLE_ENDIAN);
        readFully(buffer, tensor);
        return buffer.flip();
    }

    /**
     * Reads tensor {@code name} into {@code target} from its position, advancing the position by the tensor's byte
     * length; the target's byte order is left as it is.
     *
     * @param name one of the file's tensors
     * @param target a heap or direct buffer with at least the tensor's byte length remaining
     * @throws IllegalArgumentException when the file has no such tensor or the target is too small
     * @throws IOException when reading fails
     */
    public void read(String name, ByteBuffer target) throws IOException {
        TensorEntry tensor = entry(name);
        requireArgument(target != null, "target", "non-null", null);
        requireArgument(target.remaining() >= tensor.byteLength(), "remaining bytes of the target for '" + name + "'",
                ">= " + tensor.byteLength(), target.remaining());
        ByteBuffer window = target.duplicate();
        window.limit(window.position() + (int) tensor.byteLength());
        readFully(window, tensor);
        target.position(window.position());
    }

    /** Closes the file; later reads fail with {@link IllegalStateException}. Closing twice does nothing. */
    @Override
    public void close() throws IOException {
        channel.close();
    }

    @Override
    public String toString() {
        return path + " (" + tensors.size() + " tensors)";
    }

    private TensorEntry entry(String name) {
        requireState(channel.isOpen(), path + " is closed; open it again to read");
        TensorEntry tensor = byName.get(name);
        requireArgument(tensor != null, "name", "one of the tensors in " + path, quote(name));
        return tensor;
    }

    private void readFully(ByteBuffer target, TensorEntry tensor) throws IOException {
        long position = tensor.byteOffset();
        while (target.hasRemaining()) {
            int n = channel.read(target, position);
            if (n < 0) {
                throw new SafetensorsFormatException(path, "file ended at byte " + position + " while reading tensor "
                        + quote(tensor.name()) + "; it was truncated after it was opened");
            }
            position += n;
        }
    }

    private static String quote(String name) {
        return "'" + abbreviate(name) + "'";
    }

    private static String abbreviate(String text) {
        return text.length() <= MAX_QUOTED_CHARS ? text : text.substring(0, MAX_QUOTED_CHARS) + "...";
    }

    /** One pass over a file's header, in the order the checks must happen: lengths before allocations. */
    private static final class Parser {
        private final Path path;
        private final FileChannel channel;
        private long dataStart;
        private long dataSize;

        Parser(Path path, FileChannel channel) {
            this.path = path;
            this.channel = channel;
        }

        SafetensorsFile parse() throws IOException {
            JsonNode header = readHeader();
            Map<String, String> metadata = new LinkedHashMap<>();
            List<TensorEntry> tensors = new ArrayList<>();
            for (Map.Entry<String, JsonNode> field : header.properties()) {
                if (field.getKey().equals(METADATA_KEY)) {
                    metadata = metadata(field.getValue());
                } else {
                    tensors.add(tensor(field.getKey(), field.getValue()));
                }
            }
            // Stable sort: empty tensors sharing an offset keep their header order.
            tensors.sort(Comparator.comparingLong(TensorEntry::byteOffset).thenComparingLong(TensorEntry::byteLength));
            requireTiling(tensors);
            return new SafetensorsFile(path, channel, tensors, metadata);
        }

        private JsonNode readHeader() throws IOException {
            long fileSize = channel.size();
            if (fileSize < 8) {
                throw fail("file is " + fileSize + " bytes, too short for the 8-byte header length");
            }
            ByteBuffer prefix = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(prefix, 0);
            long headerLength = prefix.getLong(0);
            if (headerLength == 0) {
                throw fail("header length is 0; even an empty header is {}");
            }
            if (headerLength < 0 || headerLength > MAX_HEADER_BYTES) {
                throw fail("header length " + Long.toUnsignedString(headerLength) + " exceeds the limit of "
                        + MAX_HEADER_BYTES + " bytes");
            }
            if (headerLength > fileSize - 8) {
                throw fail("header length " + headerLength + " runs past the end of the file, which has "
                        + (fileSize - 8) + " bytes after the length");
            }
            dataStart = 8 + headerLength;
            dataSize = fileSize - dataStart;
            ByteBuffer bytes = ByteBuffer.allocate((int) headerLength);
            readFully(bytes, 8);
            String text;
            try {
                CharBuffer chars = StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(bytes.flip());
                text = chars.toString();
            } catch (CharacterCodingException e) {
                throw fail("header is not valid UTF-8 (" + e.getMessage() + ")");
            }
            JsonNode root;
            try {
                root = JSON.readTree(text);
            } catch (JacksonException e) {
                throw fail("header is not valid JSON: " + abbreviate(String.valueOf(e.getOriginalMessage())));
            }
            if (root == null || !root.isObject()) {
                throw fail("header must be a JSON object, was " + kind(root));
            }
            return root;
        }

        private Map<String, String> metadata(JsonNode node) {
            Map<String, String> metadata = new LinkedHashMap<>();
            if (node.isNull()) {
                return metadata;
            }
            if (!node.isObject()) {
                throw fail(METADATA_KEY + " must be a JSON object of strings, was " + kind(node));
            }
            for (Map.Entry<String, JsonNode> entry : node.properties()) {
                if (!entry.getValue().isTextual()) {
                    throw fail(METADATA_KEY + " entry " + quote(entry.getKey()) + " must be a string, was "
                            + kind(entry.getValue()));
                }
                metadata.put(entry.getKey(), entry.getValue().textValue());
            }
            return metadata;
        }

        private TensorEntry tensor(String name, JsonNode node) {
            String tensor = "tensor " + quote(name);
            if (!node.isObject()) {
                throw fail(tensor + " must be a JSON object, was " + kind(node));
            }
            JsonNode dtypeNode = node.get("dtype");
            if (dtypeNode == null || !dtypeNode.isTextual()) {
                throw fail(tensor + " has no dtype string");
            }
            Dtype dtype = Dtype.named(dtypeNode.textValue());
            if (dtype == null) {
                throw fail(tensor + " has unknown dtype " + quote(dtypeNode.textValue()) + "; the format knows "
                        + Dtype.knownNames());
            }
            long[] shape = nonNegativeIntegers(node.get("shape"));
            if (shape == null) {
                throw fail(tensor + " has shape " + kind(node.get("shape"))
                        + "; it must be an array of non-negative integers");
            }
            long[] offsets = nonNegativeIntegers(node.get("data_offsets"));
            if (offsets == null || offsets.length != 2) {
                throw fail(tensor + " has data_offsets " + kind(node.get("data_offsets"))
                        + "; they must be two non-negative integers [begin, end]");
            }
            long begin = offsets[0];
            long end = offsets[1];
            String range = "data_offsets [" + begin + ", " + end + "]";
            if (begin > end) {
                throw fail(tensor + " has " + range + " with begin after end");
            }
            if (end > dataSize) {
                throw fail(tensor + " has " + range + " but the data section has only " + dataSize + " bytes");
            }
            long byteLength;
            try {
                byteLength = dtype.byteLength(shape);
            } catch (ArithmeticException e) {
                throw fail(tensor + " has dtype " + dtype + " and shape " + abbreviate(Arrays.toString(shape))
                        + " whose byte count overflows 64 bits");
            }
            if (end - begin != byteLength) {
                throw fail(tensor + " has " + range + " but dtype " + dtype + " and shape "
                        + abbreviate(Arrays.toString(shape)) + " need " + byteLength + " bytes");
            }
            return new TensorEntry(name, dtype.name(), shape, dataStart + begin, byteLength);
        }

        /** The tensors, sorted by offset, must cover the data section from 0 to its end without gap or overlap. */
        private void requireTiling(List<TensorEntry> sorted) {
            long covered = 0;
            TensorEntry previous = null;
            for (TensorEntry tensor : sorted) {
                long begin = tensor.byteOffset() - dataStart;
                if (begin < covered) {
                    throw fail("tensors " + quote(previous.name()) + " and " + quote(tensor.name())
                            + " overlap: the second begins at byte " + begin + " of the data section, before the first"
                            + " ends at " + covered);
                }
                if (begin > covered) {
                    throw fail("bytes " + covered + " to " + begin + " of the data section belong to no tensor"
                            + " (a gap before tensor " + quote(tensor.name()) + ")");
                }
                covered = begin + tensor.byteLength();
                previous = tensor;
            }
            if (covered != dataSize) {
                throw fail("the data section has " + dataSize + " bytes but the tensors cover only " + covered
                        + "; bytes " + covered + " to " + dataSize + " belong to no tensor");
            }
        }

        /** The node as longs, or null unless it is an array of integers in [0, 2^63). */
        private static long[] nonNegativeIntegers(JsonNode node) {
            if (node == null || !node.isArray()) {
                return null;
            }
            long[] values = new long[node.size()];
            for (int i = 0; i < values.length; i++) {
                JsonNode value = node.get(i);
                if (!value.isIntegralNumber() || !value.canConvertToLong() || value.longValue() < 0) {
                    return null;
                }
                values[i] = value.longValue();
            }
            return values;
        }

        private static String kind(JsonNode node) {
            if (node == null || node.isMissingNode()) {
                return "missing";
            }
            return abbreviate(node.toString());
        }

        private void readFully(ByteBuffer target, long position) throws IOException {
            while (target.hasRemaining()) {
                int n = channel.read(target, position);
                if (n < 0) {
                    throw fail("file ended at byte " + position + " while reading the header");
                }
                position += n;
            }
        }

        private SafetensorsFormatException fail(String problem) {
            return new SafetensorsFormatException(path, problem);
        }
    }
}
