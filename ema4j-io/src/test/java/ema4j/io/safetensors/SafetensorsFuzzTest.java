package ema4j.io.safetensors;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.statistics.Statistics;
import net.jqwik.api.lifecycle.AfterContainer;

/**
 * Hostile input for {@link SafetensorsFile}: valid files, then broken in the ways a bad disk, a bad download or an
 * attacker breaks them. Opening and reading either agrees with the bytes or fails with a
 * {@link SafetensorsFormatException}; no other exception, no allocation sized by a lie.
 */
class SafetensorsFuzzTest {
    private static final Path DIRECTORY = temporaryDirectory();
    private static final Path FILE = DIRECTORY.resolve("fuzz.safetensors");
    private static final ObjectMapper MAPPER = new ObjectMapper();
    private static final JsonNodeFactory JSON = JsonNodeFactory.instance;
    private static final Pattern NUMBER = Pattern.compile("\\d+");
    private static final String[] JSON_TOKENS = {
        "{", "}", "[", "]", ":", ",", "\"", " ", "\"w\"", "\"v\"", "\"dtype\"", "\"shape\"", "\"data_offsets\"",
        "\"__metadata__\"", "\"F32\"", "\"U8\"", "\"BF16\"", "\"X9\"", "0", "1", "4", "8", "-1", "1.5", "1e400",
        "9223372036854775807", "18446744073709551616", "null", "true", "\"\\ud800\"", "\"\\u0000\"", "é", "\uD83D\uDE00"
    };

    /** How a valid file is broken. */
    enum Mutation {
        NONE, FLIP_HEADER_BYTES, FLIP_LENGTH_BITS, SET_LENGTH, TRUNCATE, APPEND, RANDOM_HEADER, RANDOM_NUMBERS,
        MOVE_TENSORS, REPLACE_JSON_VALUE
    }

    /** One tensor as generated: what the file must give back. */
    record Tensor(String name, Dtype dtype, long[] shape, byte[] data) {}

    /** A valid file and what it holds. */
    record Generated(byte[] bytes, List<Tensor> tensors, Map<String, String> metadata) {}

    @Property(tries = 3000)
    void aBrokenFileOpensConsistentlyOrFailsWithAFormatException(
            @ForAll("validFiles") Generated valid, @ForAll Mutation mutation, @ForAll Random random) throws IOException {
        byte[] bytes = mutate(valid.bytes(), mutation, random);
        Files.write(FILE, bytes);

        String outcome = "accepted";
        try (SafetensorsFile file = SafetensorsFile.open(FILE)) {
            assertConsistent(file, bytes);
            if (mutation == Mutation.NONE) {
                assertHolds(file, valid);
            }
        } catch (SafetensorsFormatException e) {
            assertThat(mutation).isNotEqualTo(Mutation.NONE);
            assertThat(e.getMessage()).startsWith(FILE + ": ");
            outcome = rejection(e.getMessage().substring(FILE.toString().length() + 2));
        }
        Statistics.collect(outcome);
        Statistics.coverage(coverage -> {
            // The mutations must reach past the length check into the JSON and the tiling, and leave some files valid.
            for (String layer : List.of("accepted", "header length", "JSON", "has data_offsets", "cover only")) {
                coverage.check(layer).percentage(p -> p > 1);
            }
        });
    }

    /** The check that fired, coarsely, so the statistics show the fuzzing reaches every layer. */
    private static String rejection(String problem) {
        for (String phrase : new String[] {"header length", "too short", "UTF-8", "JSON", "__metadata__",
                "unknown dtype", "no dtype", "has shape", "overflows", "has data_offsets", "overlap", "cover only",
                "belong to no tensor"}) {
            if (problem.contains(phrase)) {
                return phrase;
            }
        }
        return problem;
    }

    @Property(tries = 300)
    void everyWrittenFileReadsBackExactly(@ForAll("validFiles") Generated valid) throws IOException {
        Files.write(FILE, valid.bytes());

        try (SafetensorsFile file = SafetensorsFile.open(FILE)) {
            assertHolds(file, valid);
        }
    }

    @AfterContainer
    static void deleteFiles() throws IOException {
        try (Stream<Path> files = Files.list(DIRECTORY)) {
            for (Path file : files.toList()) {
                Files.delete(file);
            }
        }
        Files.delete(DIRECTORY);
    }

    @Provide
    Arbitrary<Generated> validFiles() {
        Arbitrary<Tensor> tensor = Combinators.combine(
                Arbitraries.strings().alpha().numeric().withChars('.', '_', 'é', '"', '\\', '\n').ofMaxLength(6),
                Arbitraries.of(Dtype.class),
                Arbitraries.longs().between(0, 4).array(long[].class).ofMaxSize(3))
            .flatAs((name, dtype, shape) -> Arbitraries.bytes().array(byte[].class)
                    .ofSize((int) dtype.byteLength(shape))
                    .map(data -> new Tensor(name, dtype, shape, data)));
        Arbitrary<Map<String, String>> metadata = Arbitraries.maps(
                Arbitraries.strings().alpha().ofMinLength(1).ofMaxLength(5),
                Arbitraries.strings().ofMaxLength(8)).ofMaxSize(2);
        return Combinators.combine(tensor.list().ofMaxSize(4), metadata).as(SafetensorsFuzzTest::generated);
    }

    private static Generated generated(List<Tensor> drawn, Map<String, String> metadata) {
        List<Tensor> tensors = new ArrayList<>();
        SafetensorsWriter writer = SafetensorsWriter.create().metadata(metadata);
        for (int i = 0; i < drawn.size(); i++) {
            Tensor t = drawn.get(i);
            Tensor unique = new Tensor("t" + i + t.name(), t.dtype(), t.shape(), t.data());
            tensors.add(unique);
            writer.tensor(unique.name(), unique.dtype().name(), unique.shape(), ByteBuffer.wrap(unique.data()));
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            writer.writeTo(Channels.newChannel(out));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return new Generated(out.toByteArray(), tensors, metadata);
    }

    private static byte[] mutate(byte[] valid, Mutation mutation, Random random) {
        byte[] bytes = valid.clone();
        int headerEnd = 8 + (int) ByteBuffer.wrap(valid).order(ByteOrder.LITTLE_ENDIAN).getLong();
        switch (mutation) {
            case NONE -> { }
            case FLIP_HEADER_BYTES -> {
                for (int i = 1 + random.nextInt(4); i > 0; i--) {
                    bytes[8 + random.nextInt(headerEnd - 8)] = (byte) random.nextInt(256);
                }
            }
            case FLIP_LENGTH_BITS -> bytes[random.nextInt(8)] ^= (byte) (1 << random.nextInt(8));
            case SET_LENGTH -> {
                long[] lengths = {0, 1, headerEnd - 9, headerEnd - 7, bytes.length - 8, bytes.length - 7,
                    100_000_000L, 100_000_001L, -1L, Long.MIN_VALUE, random.nextLong(), random.nextInt(bytes.length)};
                ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN)
                        .putLong(0, lengths[random.nextInt(lengths.length)]);
            }
            case TRUNCATE -> bytes = Arrays.copyOf(bytes, random.nextInt(bytes.length));
            case APPEND -> {
                bytes = Arrays.copyOf(bytes, bytes.length + 1 + random.nextInt(16));
                random.nextBytes(bytes);
                System.arraycopy(valid, 0, bytes, 0, valid.length);
            }
            case RANDOM_HEADER -> {
                StringBuilder header = new StringBuilder();
                for (int i = random.nextInt(40); i > 0; i--) {
                    header.append(JSON_TOKENS[random.nextInt(JSON_TOKENS.length)]);
                }
                bytes = withHeader(valid, headerEnd, header.toString());
            }
            case RANDOM_NUMBERS -> {
                String header = new String(valid, 8, headerEnd - 8, UTF_8);
                int dataSize = valid.length - headerEnd;
                Matcher numbers = NUMBER.matcher(header);
                StringBuilder changed = new StringBuilder();
                while (numbers.find()) {
                    long value = Long.parseLong(numbers.group());
                    String[] choices = {numbers.group(), String.valueOf(value + 1), String.valueOf(value - 1), "0",
                        String.valueOf(dataSize), String.valueOf(dataSize + 1), "9223372036854775807",
                        "4611686018427387904", "-" + value};
                    String replacement = random.nextInt(3) == 0 ? choices[random.nextInt(choices.length)]
                            : numbers.group();
                    numbers.appendReplacement(changed, replacement);
                }
                numbers.appendTail(changed);
                bytes = withHeader(valid, headerEnd, changed.toString());
            }
            case MOVE_TENSORS -> bytes = withHeader(valid, headerEnd, moveTensors(valid, headerEnd, random));
            case REPLACE_JSON_VALUE -> bytes = withHeader(valid, headerEnd, replaceJsonValue(valid, headerEnd, random));
        }
        return bytes;
    }

    /** Keeps every tensor's length but moves its bytes to a random place: overlaps, gaps and runs past the end. */
    private static String moveTensors(byte[] valid, int headerEnd, Random random) {
        ObjectNode header = parse(valid, headerEnd);
        int dataSize = valid.length - headerEnd;
        for (Map.Entry<String, JsonNode> field : header.properties()) {
            JsonNode offsets = field.getValue().get("data_offsets");
            if (offsets instanceof ArrayNode pair && random.nextBoolean()) {
                long length = pair.get(1).longValue() - pair.get(0).longValue();
                long begin = random.nextInt(dataSize + 2);
                pair.removeAll().add(begin).add(begin + length);
            }
        }
        return header.toString();
    }

    /** Puts a value of the wrong kind somewhere in the header: a number for a dtype, an object for a shape, ... */
    private static String replaceJsonValue(byte[] valid, int headerEnd, Random random) {
        ObjectNode header = parse(valid, headerEnd);
        List<Runnable> replacements = new ArrayList<>();
        JsonNode[] wrongKinds = {
            JSON.nullNode(), JSON.numberNode(1), JSON.numberNode(-1), JSON.numberNode(1.5), JSON.textNode("F32"),
            JSON.arrayNode(), JSON.arrayNode().add(1).add(2), JSON.objectNode(), JSON.booleanNode(true)};
        collectPlaces(header, replacements, wrongKinds, random);
        if (!replacements.isEmpty()) {
            replacements.get(random.nextInt(replacements.size())).run();
        }
        return header.toString();
    }

    private static void collectPlaces(JsonNode node, List<Runnable> places, JsonNode[] wrongKinds, Random random) {
        JsonNode wrong = wrongKinds[random.nextInt(wrongKinds.length)];
        if (node instanceof ObjectNode object) {
            for (Map.Entry<String, JsonNode> field : object.properties()) {
                places.add(() -> object.set(field.getKey(), wrong));
                collectPlaces(field.getValue(), places, wrongKinds, random);
            }
        } else if (node instanceof ArrayNode array) {
            for (int i = 0; i < array.size(); i++) {
                int index = i;
                places.add(() -> array.set(index, wrong));
                collectPlaces(array.get(i), places, wrongKinds, random);
            }
        }
    }

    private static ObjectNode parse(byte[] valid, int headerEnd) {
        try {
            return (ObjectNode) MAPPER.readTree(new String(valid, 8, headerEnd - 8, UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] withHeader(byte[] valid, int headerEnd, String header) {
        byte[] json = header.getBytes(UTF_8);
        ByteBuffer out = ByteBuffer.allocate(8 + json.length + valid.length - headerEnd).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(json.length).put(json).put(valid, headerEnd, valid.length - headerEnd);
        return out.array();
    }

    /** Whatever was accepted must describe the bytes: the tensors tile the data section and read what is there. */
    private static void assertConsistent(SafetensorsFile file, byte[] bytes) throws IOException {
        long dataStart = 8 + ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong();
        List<TensorEntry> sorted = new ArrayList<>(file.tensors());
        sorted.sort(Comparator.comparingLong(TensorEntry::byteOffset));
        long next = dataStart;
        for (TensorEntry tensor : sorted) {
            assertThat(tensor.byteOffset()).isEqualTo(next);
            next += tensor.byteLength();
            ByteBuffer read = file.read(tensor.name());
            assertThat(read.order()).isEqualTo(ByteOrder.LITTLE_ENDIAN);
            int from = (int) tensor.byteOffset();
            assertThat(read).isEqualTo(ByteBuffer.wrap(bytes, from, (int) tensor.byteLength()));
        }
        assertThat(next).isEqualTo(bytes.length);
    }

    private static void assertHolds(SafetensorsFile file, Generated valid) throws IOException {
        assertThat(file.metadata()).isEqualTo(valid.metadata());
        assertThat(file.tensors()).extracting(TensorEntry::name)
                .containsExactlyElementsOf(valid.tensors().stream().map(Tensor::name).toList());
        for (Tensor tensor : valid.tensors()) {
            TensorEntry entry = file.find(tensor.name()).orElseThrow();
            assertThat(entry.dtype()).isEqualTo(tensor.dtype().name());
            assertThat(entry.shape()).isEqualTo(tensor.shape());
            assertThat(file.read(tensor.name())).isEqualTo(ByteBuffer.wrap(tensor.data()));
        }
    }

    private static Path temporaryDirectory() {
        try {
            return Files.createTempDirectory("safetensors-fuzz");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
