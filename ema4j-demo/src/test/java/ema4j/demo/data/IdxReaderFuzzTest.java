package ema4j.demo.data;

import static ema4j.demo.data.IdxFiles.gzip;
import static ema4j.demo.data.IdxFiles.idx;
import static ema4j.demo.data.IdxReader.IMAGES_MAGIC;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowable;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Random;
import java.util.stream.Stream;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.lifecycle.AfterContainer;

/**
 * Random IDX files for {@link IdxReader}: valid ones read back exactly; broken ones (a byte changed, cut short,
 * padded) either still read consistently (a plain file: the bytes after the header) or fail with an
 * {@link IdxFormatException}, never another exception.
 */
class IdxReaderFuzzTest {
    private static final Path DIRECTORY = temporaryDirectory();

    @Property(tries = 200)
    void validFilesReadBackTheFirstLimitImages(@ForAll @IntRange(max = 12) int count,
            @ForAll @IntRange(min = 1, max = 6) int rows, @ForAll @IntRange(min = 1, max = 6) int cols,
            @ForAll @IntRange(max = 15) int limit, @ForAll boolean gzip, @ForAll long seed) throws IOException {
        byte[] pixels = new byte[count * rows * cols];
        new Random(seed).nextBytes(pixels);
        Path file = DIRECTORY.resolve(gzip ? "valid.gz" : "valid");
        byte[] bytes = idx(IMAGES_MAGIC, new int[] {count, rows, cols}, pixels);
        Files.write(file, gzip ? gzip(bytes) : bytes);

        IdxImages read = IdxReader.readImages(file, limit);

        int expected = Math.min(count, limit);
        assertThat(read.count()).isEqualTo(expected);
        assertThat(read.rows()).isEqualTo(rows);
        assertThat(read.cols()).isEqualTo(cols);
        assertThat(read.pixels()).isEqualTo(Arrays.copyOf(pixels, expected * rows * cols));
    }

    @Property(tries = 500)
    void brokenFilesFailOnlyWithAFormatError(@ForAll @Size(min = 1, max = 60) byte[] pixels,
            @ForAll @IntRange(max = 200) int position, @ForAll byte value, @ForAll @IntRange(max = 3) int mutation,
            @ForAll boolean gzip) throws IOException {
        byte[] bytes = idx(IMAGES_MAGIC, new int[] {1, 1, pixels.length}, pixels);
        if (gzip) {
            bytes = gzip(bytes);
        }
        int at = position % bytes.length;
        byte[] broken = switch (mutation) {
            case 0 -> replace(bytes, at, value);
            case 1 -> Arrays.copyOf(bytes, at);
            case 2 -> Arrays.copyOf(bytes, bytes.length + 1 + at % 7);
            default -> replace(replace(bytes, at, value), (at * 7 + 3) % bytes.length, value);
        };
        Path file = Files.write(DIRECTORY.resolve(gzip ? "broken.gz" : "broken"), broken);

        Throwable thrown = catchThrowable(() -> {
            IdxImages read = IdxReader.readImages(file);
            assertThat(read.pixels()).hasSize(read.count() * read.imageSize());
            if (!gzip) {
                // what was read is what the file holds after its 16-byte header (magic and three sizes)
                assertThat(read.pixels()).isEqualTo(Arrays.copyOfRange(broken, 16, 16 + read.pixels().length));
            }
        });

        assertThat(thrown).satisfiesAnyOf(
                t -> assertThat(t).isNull(),
                t -> assertThat(t).isInstanceOf(IdxFormatException.class).hasMessageStartingWith(file + ": "));
    }

    @AfterContainer
    static void deleteDirectory() throws IOException {
        try (Stream<Path> paths = Files.walk(DIRECTORY)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        }
    }

    private static byte[] replace(byte[] bytes, int at, byte value) {
        byte[] copy = bytes.clone();
        copy[at] = value;
        return copy;
    }

    private static Path temporaryDirectory() {
        try {
            return Files.createTempDirectory("idx-fuzz");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
