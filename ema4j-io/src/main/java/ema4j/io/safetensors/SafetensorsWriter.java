package ema4j.io.safetensors;

import static ema4j.core.internal.Preconditions.requireArgument;
import static ema4j.core.internal.Preconditions.requireState;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import ema4j.io.AtomicFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes named tensors and string metadata as one safetensors file, laid out in the order they were added.
 *
 * <p>The header is compact JSON ({@code __metadata__} first, then the tensors), padded with spaces so the data
 * section starts at an 8-byte-aligned offset, as the Python library writes it. Offsets are 64-bit and names are
 * checked for duplicates as they are added, which DJL's {@code NDList.encode(SAFETENSORS)} does not do.
 *
 * <p>Usage: {@code SafetensorsWriter.create().metadata("format", "pt").tensor("w", "F32", shape, bytes).write(path)}.
 * Not thread-safe: configure from one thread, then write. Buffers are not copied; they must not change until the
 * last write.
 */
public final class SafetensorsWriter {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final List<Pending> tensors = new ArrayList<>();
    private final Set<String> names = new HashSet<>();

    private SafetensorsWriter() {}

    /** An empty writer: no tensors, no metadata. */
    public static SafetensorsWriter create() {
        return new SafetensorsWriter();
    }

    /**
     * Streams one tensor's bytes into the file, so a large tensor needs no second copy in memory.
     */
    @FunctionalInterface
    public interface TensorData {
        /**
         * Writes exactly the tensor's byte length, little-endian, row-major; the writer checks the count.
         *
         * @param out the file at the tensor's offset; do not close it
         * @throws IOException when writing fails
         */
        void writeTo(WritableByteChannel out) throws IOException;
    }

    /**
     * Adds one {@code __metadata__} entry; a later value for the same key replaces the earlier one.
     *
     * @param key non-null
     * @param value non-null
     * @return this writer
     */
    public SafetensorsWriter metadata(String key, String value) {
        requireArgument(key != null, "metadata key", "non-null", null);
        requireArgument(value != null, "metadata value of " + key, "non-null", null);
        metadata.put(key, value);
        return this;
    }

    /**
     * Adds every entry of {@code entries} as {@link #metadata(String, String)} does, in the map's order.
     *
     * @param entries non-null keys and values
     * @return this writer
     */
    public SafetensorsWriter metadata(Map<String, String> entries) {
        requireArgument(entries != null, "metadata", "non-null", null);
        entries.forEach(this::metadata);
        return this;
    }

    /**
     * Adds a tensor whose bytes are the remaining bytes of {@code data}, already little-endian.
     *
     * @param name unique in this file, non-empty, not {@code __metadata__}
     * @param dtype the format's element type: {@code F32}, {@code F16}, {@code BF16}, {@code F64}, {@code I64}, ...
     * @param shape the dimensions, each {@code >= 0}; empty for a scalar
     * @param data exactly {@code elements * dtype size} remaining bytes; its position is not changed
     * @return this writer
     */
    public SafetensorsWriter tensor(String name, String dtype, long[] shape, ByteBuffer data) {
        requireArgument(data != null, "data of " + name, "non-null", null);
        long byteLength = checkedByteLength(name, dtype, shape);
        requireArgument(data.remaining() == byteLength, "data of " + name,
                byteLength + " bytes (dtype " + dtype + ", shape " + Arrays.toString(shape) + ")",
                data.remaining() + " bytes");
        return add(new Pending(name, dtype, shape.clone(), byteLength, data.duplicate(), null));
    }

    /**
     * Adds a tensor whose bytes {@code data} writes when the file is written.
     *
     * @param name unique in this file, non-empty, not {@code __metadata__}
     * @param dtype the format's element type: {@code F32}, {@code F16}, {@code BF16}, {@code F64}, {@code I64}, ...
     * @param shape the dimensions, each {@code >= 0}; empty for a scalar
     * @param data writes exactly {@code elements * dtype size} bytes, once per write of this writer
     * @return this writer
     */
    public SafetensorsWriter tensor(String name, String dtype, long[] shape, TensorData data) {
        requireArgument(data != null, "data of " + name, "non-null", null);
        long byteLength = checkedByteLength(name, dtype, shape);
        return add(new Pending(name, dtype, shape.clone(), byteLength, null, data));
    }

    /**
     * Writes the file to {@code target} atomically (see {@link AtomicFiles#write}): readers see the old file or the
     * whole new one, and a failure leaves the old one in place.
     *
     * @param target the file to create or replace
     * @throws IOException when the file system fails
     * @throws IllegalStateException when a {@link TensorData} writes the wrong number of bytes, or the header would
     *     exceed the 100 MB readers accept
     */
    public void write(Path target) throws IOException {
        AtomicFiles.write(target, this::writeTo);
    }

    /**
     * Writes the whole file, header then data, into {@code out} at its current position.
     *
     * @param out the destination; left open
     * @throws IOException when writing fails
     * @throws IllegalStateException when a {@link TensorData} writes the wrong number of bytes, or the header would
     *     exceed the 100 MB readers accept
     */
    public void writeTo(WritableByteChannel out) throws IOException {
        byte[] header = header();
        requireState(header.length <= SafetensorsFile.MAX_HEADER_BYTES, "the header is " + header.length
                + " bytes, more than the " + SafetensorsFile.MAX_HEADER_BYTES
                + " readers accept; write fewer tensors or less metadata per file");
        int padded = (header.length + 7) / 8 * 8;
        ByteBuffer prefix = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        prefix.putLong(padded).put(header);
        while (prefix.hasRemaining()) {
            prefix.put((byte) ' ');
        }
        writeFully(out, prefix.flip());
        for (Pending tensor : tensors) {
            if (tensor.buffer != null) {
                writeFully(out, tensor.buffer.duplicate());
            } else {
                CountingChannel counted = new CountingChannel(out, tensor);
                tensor.callback.writeTo(counted);
                requireState(counted.written == tensor.byteLength, "tensor '" + tensor.name + "' wrote "
                        + counted.written + " bytes, must write " + tensor.byteLength);
            }
        }
    }

    private long checkedByteLength(String name, String dtype, long[] shape) {
        requireArgument(name != null && !name.isEmpty(), "name", "a non-empty string", name == null ? null : "''");
        requireArgument(!name.equals(SafetensorsFile.METADATA_KEY), "name", "other than the reserved "
                + SafetensorsFile.METADATA_KEY, name);
        requireArgument(!names.contains(name), "name", "unique in the file", "'" + name + "' twice");
        Dtype type = dtype == null ? null : Dtype.named(dtype);
        requireArgument(type != null, "dtype of " + name, "one of " + Dtype.knownNames(), dtype);
        requireArgument(shape != null, "shape of " + name, "non-null", null);
        for (long dim : shape) {
            requireArgument(dim >= 0, "every dimension of " + name, ">= 0", Arrays.toString(shape));
        }
        try {
            return type.byteLength(shape);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException("byte count of " + name + " must fit in 63 bits, was "
                    + Arrays.toString(shape) + " x " + dtype, e);
        }
    }

    private SafetensorsWriter add(Pending tensor) {
        names.add(tensor.name);
        tensors.add(tensor);
        return this;
    }

    private byte[] header() throws IOException {
        ObjectNode root = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode entries = root.putObject(SafetensorsFile.METADATA_KEY);
            metadata.forEach(entries::put);
        }
        long offset = 0;
        for (Pending tensor : tensors) {
            ObjectNode entry = root.putObject(tensor.name);
            entry.put("dtype", tensor.dtype);
            ArrayNode shape = entry.putArray("shape");
            for (long dim : tensor.shape) {
                shape.add(dim);
            }
            entry.putArray("data_offsets").add(offset).add(offset + tensor.byteLength);
            offset += tensor.byteLength;
        }
        return JSON.writeValueAsBytes(root);
    }

    private static void writeFully(WritableByteChannel out, ByteBuffer bytes) throws IOException {
        while (bytes.hasRemaining()) {
            out.write(bytes);
        }
    }

    private record Pending(String name, String dtype, long[] shape, long byteLength, ByteBuffer buffer,
            TensorData callback) {}

    /** Passes bytes through and refuses any beyond the tensor's length, so a bad callback cannot shift the rest. */
    private static final class CountingChannel implements WritableByteChannel {
        private final WritableByteChannel out;
        private final Pending tensor;
        private long written;

        CountingChannel(WritableByteChannel out, Pending tensor) {
            this.out = out;
            this.tensor = tensor;
        }

        @Override
        public int write(ByteBuffer src) throws IOException {
            requireState(written + src.remaining() <= tensor.byteLength, "tensor '" + tensor.name
                    + "' must write " + tensor.byteLength + " bytes, tried to write " + (written + src.remaining()));
            int n = out.write(src);
            written += n;
            return n;
        }

        @Override
        public boolean isOpen() {
            return out.isOpen();
        }

        @Override
        public void close() {
            // The file belongs to the writer; a callback closing it would cut off the tensors after it.
        }
    }
}
