package ema4j.io.safetensors;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.Channels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsWriterTest {
    @TempDir
    Path directory;

    @Test
    void writesOneTensorByteForByteAsThePythonLibraryDoes() throws IOException {
        // The reference implementation's own test vector: attn0, F32, shape (1, 1, 2, 3), values 0..5.
        ByteBuffer values = floats(0, 1, 2, 3, 4, 5);

        byte[] written = bytesOf(SafetensorsWriter.create().tensor("attn0", "F32", new long[] {1, 1, 2, 3}, values));

        String header = "{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}" + " ".repeat(7);
        assertThat(written).isEqualTo(concat(lengthPrefix(72), header.getBytes(UTF_8), floats(0, 1, 2, 3, 4, 5).array()));
    }

    @Test
    void writesAnEmptyFileAsBracesPaddedToEightBytes() throws IOException {
        assertThat(bytesOf(SafetensorsWriter.create()))
                .isEqualTo(concat(lengthPrefix(8), "{}      ".getBytes(UTF_8)));
    }

    @Test
    void writesTheMetadataFirst() throws IOException {
        byte[] written = bytesOf(SafetensorsWriter.create().metadata("framework", "pt"));

        String header = "{\"__metadata__\":{\"framework\":\"pt\"}}" + " ".repeat(5);
        assertThat(written).isEqualTo(concat(lengthPrefix(40), header.getBytes(UTF_8)));
    }

    @Test
    void startsTheDataSectionAtAnEightByteBoundaryWhateverTheNames() throws IOException {
        for (String name : List.of("a", "ab", "abc", "abcd", "abcde", "abcdef", "abcdefg", "abcdefgh", "é")) {
            byte[] written = bytesOf(SafetensorsWriter.create().tensor(name, "U8", new long[] {1}, bytes(7)));

            long headerLength = ByteBuffer.wrap(written).order(ByteOrder.LITTLE_ENDIAN).getLong();
            assertThat(headerLength % 8).as(name).isZero();
            assertThat(written).hasSize((int) (8 + headerLength + 1));
            assertThat(written[written.length - 1]).isEqualTo((byte) 7);
        }
    }

    @Test
    void laysTheTensorsOutInTheOrderGiven() throws IOException {
        Path file = directory.resolve("ordered.safetensors");

        SafetensorsWriter.create()
                .tensor("z", "U8", new long[] {2}, bytes(1, 2))
                .tensor("a", "U8", new long[] {3}, bytes(3, 4, 5))
                .tensor("m", "U8", new long[] {1}, bytes(6))
                .write(file);

        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertThat(read.tensors()).extracting(TensorEntry::name).containsExactly("z", "a", "m");
            long dataStart = read.tensors().get(0).byteOffset();
            assertThat(read.tensors()).extracting(TensorEntry::byteOffset)
                    .containsExactly(dataStart, dataStart + 2, dataStart + 5);
        }
        byte[] all = Files.readAllBytes(file);
        assertThat(Arrays.copyOfRange(all, all.length - 6, all.length)).containsExactly(1, 2, 3, 4, 5, 6);
    }

    @Test
    void streamsATensorThroughTheCallbackWithoutACopy() throws IOException {
        Path file = directory.resolve("streamed.safetensors");

        SafetensorsWriter.create()
                .tensor("big", "F32", new long[] {2, 3}, out -> {
                    out.write(floats(0, 1, 2));
                    out.write(floats(3, 4, 5));
                })
                .write(file);

        try (SafetensorsFile read = SafetensorsFile.open(file)) {
            assertThat(read.read("big")).isEqualTo(floats(0, 1, 2, 3, 4, 5));
        }
    }

    @Test
    void leavesTheCallersBufferWhereItWas() throws IOException {
        ByteBuffer data = bytes(9, 8, 7);

        bytesOf(SafetensorsWriter.create().tensor("w", "U8", new long[] {3}, data));

        assertThat(data.position()).isZero();
        assertThat(data.remaining()).isEqualTo(3);
    }

    @Test
    void rejectsADuplicateName() {
        SafetensorsWriter writer = SafetensorsWriter.create().tensor("w", "U8", new long[] {1}, bytes(1));

        assertThatThrownBy(() -> writer.tensor("w", "U8", new long[] {1}, bytes(2)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("name must be unique in the file, was 'w' twice");
    }

    @Test
    void rejectsAnEmptyName() {
        assertThatThrownBy(() -> SafetensorsWriter.create().tensor("", "U8", new long[] {1}, bytes(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("name must be a non-empty string, was ''");
    }

    @Test
    void rejectsTheReservedMetadataKeyAsAName() {
        assertThatThrownBy(() -> SafetensorsWriter.create().tensor("__metadata__", "U8", new long[] {1}, bytes(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("reserved __metadata__");
    }

    @Test
    void rejectsAnUnknownDtype() {
        assertThatThrownBy(() -> SafetensorsWriter.create().tensor("w", "float32", new long[] {1}, bytes(1, 2, 3, 4)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("dtype of w must be one of [BOOL, U8")
                .hasMessageEndingWith(", was float32");
    }

    @Test
    void rejectsANegativeDimension() {
        assertThatThrownBy(() -> SafetensorsWriter.create().tensor("w", "U8", new long[] {2, -1}, bytes(1)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("every dimension of w must be >= 0, was [2, -1]");
    }

    @Test
    void rejectsAShapeWhoseByteCountOverflows() {
        long[] shape = {1L << 40, 1L << 30};

        assertThatThrownBy(() -> SafetensorsWriter.create().tensor("w", "F32", shape, out -> {}))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("byte count of w must fit in 63 bits");
    }

    @Test
    void rejectsABufferWhoseSizeDoesNotMatchTheShape() {
        assertThatThrownBy(() -> SafetensorsWriter.create().tensor("w", "F32", new long[] {2, 2}, zeros(12)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("data of w must be 16 bytes (dtype F32, shape [2, 2]), was 12 bytes");
    }

    @Test
    void rejectsACallbackThatWritesTooFewBytes() {
        SafetensorsWriter writer = SafetensorsWriter.create()
                .tensor("w", "F32", new long[] {2}, out -> out.write(floats(1)));

        assertThatThrownBy(() -> bytesOf(writer))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("tensor 'w' wrote 4 bytes, must write 8");
    }

    @Test
    void rejectsACallbackThatWritesTooManyBytes() {
        SafetensorsWriter writer = SafetensorsWriter.create()
                .tensor("w", "F32", new long[] {1}, out -> out.write(floats(1, 2)));

        assertThatThrownBy(() -> bytesOf(writer))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("tensor 'w' must write 4 bytes, tried to write 8");
    }

    @Test
    void aFailingCallbackLeavesTheOldFileAndNoTemporaryFile() throws IOException {
        Path file = directory.resolve("model.safetensors");
        SafetensorsWriter.create().tensor("w", "U8", new long[] {1}, bytes(1)).write(file);
        byte[] before = Files.readAllBytes(file);

        SafetensorsWriter failing = SafetensorsWriter.create()
                .tensor("w", "U8", new long[] {4}, out -> {
                    out.write(bytes(1, 2));
                    throw new IOException("device lost");
                });

        assertThatThrownBy(() -> failing.write(file)).isInstanceOf(IOException.class).hasMessage("device lost");
        assertThat(Files.readAllBytes(file)).isEqualTo(before);
        try (Stream<Path> files = Files.list(directory)) {
            assertThat(files).containsExactly(file);
        }
    }

    static byte[] bytesOf(SafetensorsWriter writer) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        writer.writeTo(Channels.newChannel(out));
        return out.toByteArray();
    }

    static ByteBuffer floats(float... values) {
        ByteBuffer buffer = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float value : values) {
            buffer.putFloat(value);
        }
        return buffer.flip();
    }

    static ByteBuffer bytes(int... values) {
        ByteBuffer buffer = ByteBuffer.allocate(values.length);
        for (int value : values) {
            buffer.put((byte) value);
        }
        return buffer.flip();
    }

    private static ByteBuffer zeros(int count) {
        return ByteBuffer.allocate(count);
    }

    private static byte[] lengthPrefix(long length) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(length).array();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] part : parts) {
            out.writeBytes(part);
        }
        return out.toByteArray();
    }
}
