package ema4j.demo.data;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.GZIPOutputStream;

/** Writes IDX files, valid or deliberately broken, for the reader's tests. */
final class IdxFiles {
    /** The committed subset: 2,000 training and 500 test items of Fashion-MNIST. */
    static final Path SUBSET = subsetDirectory();

    private IdxFiles() {}

    /** An IDX file's bytes: the magic, the dimensions, then the body as given. */
    static byte[] idx(int magic, int[] dims, byte[] body) {
        ByteBuffer buffer = ByteBuffer.allocate(4 + 4 * dims.length + body.length).putInt(magic);
        for (int dim : dims) {
            buffer.putInt(dim);
        }
        return buffer.put(body).array();
    }

    static byte[] gzip(byte[] bytes) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(out)) {
            gz.write(bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /** Writes {@code bytes} to {@code dir/name}, gzip-compressed if the name ends in {@code .gz}. */
    static Path write(Path dir, String name, byte[] bytes) throws IOException {
        return Files.write(dir.resolve(name), name.endsWith(".gz") ? gzip(bytes) : bytes);
    }

    private static Path subsetDirectory() {
        return Path.of("../testdata/fashion-mnist-subset");
    }
}
