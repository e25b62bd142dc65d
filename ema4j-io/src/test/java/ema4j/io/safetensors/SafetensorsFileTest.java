package ema4j.io.safetensors;

import static ema4j.io.safetensors.SafetensorsWriterTest.bytes;
import static ema4j.io.safetensors.SafetensorsWriterTest.floats;
import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ema4j.core.WeightFormat;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsFileTest {
    @TempDir
    Path directory;

    @Test
    void readsBackWhatTheWriterWroteForEveryKindOfShape() throws IOException {
        Path file = directory.resolve("model.safetensors");
        ByteBuffer step = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 12_345L);
        ByteBuffer halves = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putShort(0, (short) 0x3C00)
                .putShort(2, (short) 0xC000);
        SafetensorsWriter.create()
                .metadata(Map.of("format", "pt"))
                .tensor("layer.weight", WeightFormat.FLOAT32.safetensorsName(), new long[] {2, 3}, floats(1, 2, 3, 4, 5, 6))
                .tensor("step", "I64", new long[] {}, step)
                .tensor("empty", "BF16", new long[] {2, 0, 3}, ByteBuffer.allocate(0))
                .tensor("no.elements", "F64", new long[] {0}, out -> {})
                .tensor("half", "F16", new long[] {1, 2}, halves)
                .tensor("mask", "BOOL", new long[] {3}, bytes(1, 0, 1))
                .write(file);

        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertThat(read.metadata()).containsExactly(Map.entry("format", "pt"));
            assertThat(read.tensors()).extracting(TensorEntry::name)
                    .containsExactly("layer.weight", "step", "empty", "no.elements", "half", "mask");
            TensorEntry weight = read.find("layer.weight").orElseThrow();
            assertThat(weight.dtype()).isEqualTo("F32");
            assertThat(weight.shape()).containsExactly(2, 3);
            assertThat(weight.byteLength()).isEqualTo(24);
            assertThat(weight.byteOffset() % 8).isZero();
            assertThat(read.read("layer.weight")).isEqualTo(floats(1, 2, 3, 4, 5, 6));
            assertThat(read.find("step").orElseThrow().shape()).isEmpty();
            assertThat(read.read("step").getLong()).isEqualTo(12_345L);
            assertThat(read.read("empty").remaining()).isZero();
            assertThat(read.find("empty").orElseThrow().shape()).containsExactly(2, 0, 3);
            assertThat(read.read("no.elements").remaining()).isZero();
            assertThat(read.read("half").getShort(2)).isEqualTo((short) 0xC000);
            assertThat(read.read("mask")).isEqualTo(bytes(1, 0, 1));
            assertThat(read.find("missing")).isEmpty();
        }
    }

    @Test
    void readsAHeaderLaidOutAsThePythonLibraryWritesIt() throws IOException {
        // Python sorts by dtype alignment, then name; the header's key order need not follow the byte order.
        String header = "{\"__metadata__\":{\"format\":\"pt\"},"
                + "\"bias\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]},"
                + "\"step\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
                + "\"weight\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[8,16]}}";
        header += " ".repeat((8 - header.length() % 8) % 8);
        ByteBuffer data = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(7).putDouble(0.5).putFloat(1.5f).putFloat(-2f).flip();
        Path file = write("model.safetensors", fileBytes(header, data.array()));

        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertThat(read.metadata()).containsEntry("format", "pt");
            assertThat(read.tensors()).extracting(TensorEntry::name).containsExactly("step", "weight", "bias");
            long dataStart = 8 + header.length();
            assertThat(read.find("bias").orElseThrow())
                    .isEqualTo(new TensorEntry("bias", "F32", new long[] {2}, dataStart + 16, 8));
            assertThat(read.read("step").getLong()).isEqualTo(7);
            assertThat(read.read("weight").getDouble()).isEqualTo(0.5);
            assertThat(read.read("bias")).isEqualTo(floats(1.5f, -2f));
        }
    }

    @Test
    void readsIntoAGivenDirectBufferAndAdvancesItsPosition() throws IOException {
        Path file = directory.resolve("model.safetensors");
        SafetensorsWriter.create().tensor("w", "F32", new long[] {2}, floats(3, 4)).write(file);
        ByteBuffer target = ByteBuffer.allocateDirect(12).order(ByteOrder.LITTLE_ENDIAN);
        target.putFloat(9);

        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            read.read("w", target);
        }

        assertThat(target.position()).isEqualTo(12);
        assertThat(target.getFloat(4)).isEqualTo(3);
        assertThat(target.getFloat(8)).isEqualTo(4);
    }

    @Test
    void refusesATargetBufferThatIsTooSmall() throws IOException {
        Path file = directory.resolve("model.safetensors");
        SafetensorsWriter.create().tensor("w", "F32", new long[] {2}, floats(3, 4)).write(file);

        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertThatThrownBy(() -> read.read("w", ByteBuffer.allocate(7)))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("remaining bytes of the target for 'w' must be >= 8, was 7");
        }
    }

    @Test
    void refusesAnUnknownName() throws IOException {
        Path file = directory.resolve("model.safetensors");
        SafetensorsWriter.create().tensor("w", "U8", new long[] {1}, bytes(1)).write(file);

        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertThatThrownBy(() -> read.read("v"))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("name must be one of the tensors in " + file + ", was 'v'");
        }
    }

    @Test
    void refusesToReadAfterClose() throws IOException {
        Path file = directory.resolve("model.safetensors");
        SafetensorsWriter.create().tensor("w", "U8", new long[] {1}, bytes(1)).write(file);
        SafetensorsFile read = SafetensorsFile.open(file);
        read.close();

        assertThatThrownBy(() -> read.read("w")).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("is closed");
    }

    @Test
    void refusesToReadATensorLargerThanOneBufferIntoANewBuffer() throws IOException {
        long huge = Integer.MAX_VALUE;
        String header = "{\"huge\":{\"dtype\":\"U8\",\"shape\":[" + huge + "],\"data_offsets\":[0," + huge + "]}}";
        Path file = write("huge.safetensors", fileBytes(header, new byte[0]));
        try (RandomAccessFile sparse = new RandomAccessFile(file.toFile(), "rw")) {
            sparse.setLength(8 + header.length() + huge);
        }

        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertThat(read.find("huge").orElseThrow().byteLength()).isEqualTo(huge);
            assertThatThrownBy(() -> read.read("huge"))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("byte length of tensor 'huge' must be <= 2147483639")
                    .hasMessageEndingWith("was 2147483647");
        }
    }

    @Test
    void rejectsAFileShorterThanTheHeaderLength() throws IOException {
        assertRejected(new byte[5], "file is 5 bytes, too short for the 8-byte header length");
    }

    @Test
    void rejectsAHeaderLengthOfZero() throws IOException {
        assertRejected(fileBytes("", new byte[8]), "header length is 0");
    }

    @Test
    void rejectsAHeaderLengthBeyondTheFile() throws IOException {
        byte[] bytes = fileBytes("{}", new byte[0]);
        bytes[0] = 3;
        assertRejected(bytes, "header length 3 runs past the end of the file, which has 2 bytes after the length");
    }

    @Test
    void rejectsAHeaderLengthOverOneHundredMegabytesBeforeAllocatingIt() throws IOException {
        byte[] bytes = fileBytes("{}", new byte[0]);
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, 100_000_001L);
        assertRejected(bytes, "header length 100000001 exceeds the limit of 100000000 bytes");
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putLong(0, -1L);
        assertRejected(bytes, "header length 18446744073709551615 exceeds the limit");
    }

    @Test
    void rejectsAHeaderThatIsNotUtf8() throws IOException {
        byte[] bytes = fileBytes("{\"w\":1}", new byte[0]);
        bytes[10] = (byte) 0xC3;
        bytes[11] = (byte) 0x28;
        assertRejected(bytes, "header is not valid UTF-8");
    }

    @Test
    void rejectsAHeaderThatIsNotJson() throws IOException {
        assertRejected(fileBytes("{\"w\": ", new byte[0]), "header is not valid JSON");
        assertRejected(fileBytes("{} {}", new byte[0]), "header is not valid JSON");
    }

    @Test
    void rejectsAHeaderThatIsNotAnObject() throws IOException {
        assertRejected(fileBytes("[1, 2]", new byte[0]), "header must be a JSON object, was [1,2]");
        assertRejected(fileBytes("        ", new byte[0]), "header must be a JSON object, was missing");
    }

    @Test
    void rejectsDuplicateNames() throws IOException {
        String entry = "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}";
        assertRejected(fileBytes("{\"w\":" + entry + ",\"w\":" + entry + "}", new byte[1]), "Duplicate field 'w'");
    }

    @Test
    void rejectsAnEntryThatIsNotAnObject() throws IOException {
        assertRejected(fileBytes("{\"w\":[0,1]}", new byte[0]), "tensor 'w' must be a JSON object, was [0,1]");
    }

    @Test
    void rejectsAMissingOrUnknownDtype() throws IOException {
        assertRejected(header("{\"shape\":[1],\"data_offsets\":[0,1]}", 1), "tensor 'w' has no dtype string");
        assertRejected(header("{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,1]}", 1),
                "tensor 'w' has unknown dtype 'F33'; the format knows [BOOL, U8");
    }

    @Test
    void rejectsAShapeThatIsNotAnArrayOfNonNegativeIntegers() throws IOException {
        for (String shape : new String[] {"3", "[-1]", "[1.5]", "[\"2\"]", "[18446744073709551616]", "null"}) {
            assertRejected(header("{\"dtype\":\"U8\",\"shape\":" + shape + ",\"data_offsets\":[0,0]}", 0),
                    "tensor 'w' has shape ", "must be an array of non-negative integers");
        }
        assertRejected(header("{\"dtype\":\"U8\",\"data_offsets\":[0,0]}", 0), "tensor 'w' has shape missing");
    }

    @Test
    void rejectsAShapeWhoseByteCountOverflows() throws IOException {
        assertRejected(header("{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}", 0),
                "tensor 'w' has dtype F32 and shape [4294967296, 4294967296] whose byte count overflows 64 bits");
        assertRejected(header("{\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,0]}", 0),
                "overflows 64 bits");
    }

    @Test
    void rejectsDataOffsetsThatAreNotTwoOrderedNonNegativeIntegers() throws IOException {
        for (String offsets : new String[] {"[0]", "[0,1,2]", "[-1,0]", "[0,1.0]", "{}", "\"0,1\""}) {
            assertRejected(header("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":" + offsets + "}", 1),
                    "tensor 'w' has data_offsets ", "must be two non-negative integers [begin, end]");
        }
        assertRejected(header("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[2,1]}", 2),
                "tensor 'w' has data_offsets [2, 1] with begin after end");
    }

    @Test
    void rejectsDataOffsetsBeyondTheDataSection() throws IOException {
        assertRejected(header("{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}", 3),
                "tensor 'w' has data_offsets [0, 4] but the data section has only 3 bytes");
        assertRejected(header("{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,9223372036854775807]}", 1),
                "but the data section has only 1 bytes");
    }

    @Test
    void rejectsAByteCountThatDoesNotMatchDtypeAndShape() throws IOException {
        Path file = write("model.safetensors",
                header("{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}", 12));

        assertThatThrownBy(() -> SafetensorsFile.open(file))
                .isInstanceOf(SafetensorsFormatException.class)
                .hasMessage(file + ": tensor 'w' has data_offsets [0, 12] but dtype F32 and shape [2, 2] need 16 bytes");
    }

    @Test
    void rejectsOverlappingTensors() throws IOException {
        String header = "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                + "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[2,6]}}";
        assertRejected(fileBytes(header, new byte[6]), "tensors 'a' and 'b' overlap");
        String inside = "{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
                + "\"empty\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]}}";
        assertRejected(fileBytes(inside, new byte[4]), "tensors 'a' and 'empty' overlap");
    }

    @Test
    void rejectsAGapBetweenTensors() throws IOException {
        String header = "{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                + "\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]}}";
        assertRejected(fileBytes(header, new byte[5]), "bytes 2 to 3 of the data section belong to no tensor",
                "a gap before tensor 'b'");
        String late = "{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}";
        assertRejected(fileBytes(late, new byte[3]), "bytes 0 to 1 of the data section belong to no tensor");
    }

    @Test
    void rejectsBytesAfterTheLastTensor() throws IOException {
        assertRejected(header("{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}", 5),
                "the data section has 5 bytes but the tensors cover only 2");
        assertRejected(fileBytes("{}", new byte[1]), "the data section has 1 bytes but the tensors cover only 0");
    }

    @Test
    void rejectsMetadataThatIsNotAMapOfStrings() throws IOException {
        assertRejected(fileBytes("{\"__metadata__\":[\"a\"]}", new byte[0]),
                "__metadata__ must be a JSON object of strings, was [\"a\"]");
        assertRejected(fileBytes("{\"__metadata__\":{\"epoch\":3}}", new byte[0]),
                "__metadata__ entry 'epoch' must be a string, was 3");
    }

    @Test
    void acceptsNullMetadataAndHeaderPaddingAsTheReferenceImplementationDoes() throws IOException {
        Path file = write("model.safetensors", fileBytes("{\"__metadata__\":null}   ", new byte[0]));

        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertThat(read.metadata()).isEmpty();
            assertThat(read.tensors()).isEmpty();
        }
    }

    private void assertRejected(byte[] bytes, String... phrases) throws IOException {
        Path file = write("model.safetensors", bytes);
        AbstractThrowableAssert<?, ? extends Throwable> thrown = assertThatThrownBy(() -> SafetensorsFile.open(file))
                .isInstanceOf(SafetensorsFormatException.class)
                .hasMessageStartingWith(file + ": ");
        for (String phrase : phrases) {
            thrown.hasMessageContaining(phrase);
        }
    }

    private Path write(String name, byte[] bytes) throws IOException {
        return Files.write(directory.resolve(name), bytes);
    }

    /** A file holding one tensor 'w' with {@code entry} as its header entry, followed by {@code dataBytes} zeros. */
    private static byte[] header(String entry, int dataBytes) {
        return fileBytes("{\"w\":" + entry + "}", new byte[dataBytes]);
    }

    private static byte[] fileBytes(String header, byte[] data) {
        byte[] json = header.getBytes(UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).array());
        out.writeBytes(json);
        out.writeBytes(data);
        return out.toByteArray();
    }
}
