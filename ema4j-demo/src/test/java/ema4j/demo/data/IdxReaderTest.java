package ema4j.demo.data;

import static ema4j.demo.data.IdxFiles.SUBSET;
import static ema4j.demo.data.IdxFiles.gzip;
import static ema4j.demo.data.IdxFiles.idx;
import static ema4j.demo.data.IdxFiles.write;
import static ema4j.demo.data.IdxReader.IMAGES_MAGIC;
import static ema4j.demo.data.IdxReader.LABELS_MAGIC;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.stream.IntStream;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IdxReaderTest {
    private static final Path REAL = FashionMnistFiles.DEFAULT_DIR;

    @TempDir
    Path dir;

    @Test
    void theSubsetHasTwoThousandTrainingAndFiveHundredTestItemsOf28x28() throws IOException {
        IdxImages train = IdxReader.readImages(SUBSET.resolve("train-images-idx3-ubyte.gz"));
        IdxImages test = IdxReader.readImages(SUBSET.resolve("t10k-images-idx3-ubyte.gz"));

        assertThat(train.count()).isEqualTo(2000);
        assertThat(test.count()).isEqualTo(500);
        assertThat(new int[] {train.rows(), train.cols(), test.rows(), test.cols()}).containsOnly(28);
        assertThat(train.pixels()).hasSize(2000 * 784);
        assertThat(IdxReader.readLabels(SUBSET.resolve("train-labels-idx1-ubyte.gz")).count()).isEqualTo(2000);
        assertThat(IdxReader.readLabels(SUBSET.resolve("t10k-labels-idx1-ubyte.gz")).count()).isEqualTo(500);
    }

    @Test
    void theSubsetHasEveryClassAndTheFullPixelRange() throws IOException {
        LabeledImages train = IdxReader.readLabeledImages(SUBSET.resolve("train-images-idx3-ubyte.gz"),
                SUBSET.resolve("train-labels-idx1-ubyte.gz"), Integer.MAX_VALUE);

        int[] labels = IntStream.range(0, train.count()).map(i -> train.labels().labels()[i]).toArray();
        assertThat(labels).containsOnly(0, 1, 2, 3, 4, 5, 6, 7, 8, 9).contains(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
        int[] pixels = IntStream.range(0, train.images().pixels().length)
                .map(i -> train.images().pixels()[i] & 0xFF).toArray();
        assertThat(Arrays.stream(pixels).min()).hasValue(0);
        assertThat(Arrays.stream(pixels).max()).hasValue(255);
    }

    @Test
    void aLimitReadsTheFirstItemsOnly() throws IOException {
        Path file = SUBSET.resolve("train-images-idx3-ubyte.gz");
        IdxImages all = IdxReader.readImages(file);

        IdxImages first = IdxReader.readImages(file, 10);

        assertThat(first.count()).isEqualTo(10);
        assertThat(first.pixels()).isEqualTo(Arrays.copyOf(all.pixels(), 10 * 784));
        assertThat(IdxReader.readImages(file, 5000).count()).isEqualTo(2000);
        assertThat(IdxReader.readLabels(SUBSET.resolve("train-labels-idx1-ubyte.gz"), 0).count()).isZero();
    }

    @Test
    void aPlainFileReadsLikeItsGzipCopy() throws IOException {
        Path gz = SUBSET.resolve("t10k-images-idx3-ubyte.gz");
        byte[] plainBytes;
        try (GZIPInputStream in = new GZIPInputStream(Files.newInputStream(gz))) {
            plainBytes = in.readAllBytes();
        }
        Path plain = Files.write(dir.resolve("t10k-images-idx3-ubyte"), plainBytes);

        assertThat(IdxReader.readImages(plain)).usingRecursiveComparison().isEqualTo(IdxReader.readImages(gz));
    }

    @Test
    void theInstalledDatasetHasSixtyThousandTrainingAndTenThousandTestItems() throws IOException {
        Assumptions.assumeTrue(Files.isRegularFile(REAL.resolve("train-images-idx3-ubyte.gz")),
                "skipped: the dataset package is not installed (apt-get install dataset-fashion-mnist); CI installs it");

        LabeledImages train = IdxReader.readLabeledImages(REAL.resolve("train-images-idx3-ubyte.gz"),
                REAL.resolve("train-labels-idx1-ubyte.gz"), Integer.MAX_VALUE);
        LabeledImages test = IdxReader.readLabeledImages(REAL.resolve("t10k-images-idx3-ubyte.gz"),
                REAL.resolve("t10k-labels-idx1-ubyte.gz"), Integer.MAX_VALUE);

        assertThat(train.count()).isEqualTo(60_000);
        assertThat(test.count()).isEqualTo(10_000);
        assertThat(train.images().rows()).isEqualTo(28);
        assertThat(train.images().cols()).isEqualTo(28);
    }

    @Test
    void theSubsetIsTheStartOfTheInstalledDataset() throws IOException {
        Assumptions.assumeTrue(Files.isRegularFile(REAL.resolve("t10k-images-idx3-ubyte.gz")),
                "skipped: the dataset package is not installed (apt-get install dataset-fashion-mnist); CI installs it");

        IdxImages real = IdxReader.readImages(REAL.resolve("t10k-images-idx3-ubyte.gz"), 500);

        assertThat(IdxReader.readImages(SUBSET.resolve("t10k-images-idx3-ubyte.gz")).pixels())
                .isEqualTo(real.pixels());
    }

    @Test
    void aTruncatedFileSaysHowManyBytesWereExpectedAndFound() throws IOException {
        Path plain = write(dir, "short-images", idx(IMAGES_MAGIC, new int[] {10, 28, 28}, new byte[100]));
        Path gz = write(dir, "short-images.gz", idx(IMAGES_MAGIC, new int[] {10, 28, 28}, new byte[100]));

        assertFormatError(() -> IdxReader.readImages(plain), plain, "truncated data", "expected 7840", "found 100");
        assertFormatError(() -> IdxReader.readImages(gz), gz, "truncated data", "expected 7840", "found 100");
    }

    @Test
    void aTruncatedHeaderIsTruncatedData() throws IOException {
        Path file = write(dir, "header.gz", new byte[] {0, 0, 8, 3, 0, 0});

        assertFormatError(() -> IdxReader.readImages(file), file, "truncated data", "expected 12", "found 2");
    }

    @Test
    void aBadMagicNumberSaysWhatWasExpectedAndFound() throws IOException {
        Path file = write(dir, "magic.gz", idx(0x12345678, new int[] {1, 1, 1}, new byte[1]));

        assertFormatError(() -> IdxReader.readImages(file), file, "bad magic number", "expected 0x00000803",
                "found 0x12345678");
    }

    @Test
    void aLabelsFileReadAsImagesHasTheWrongDimensionCount() throws IOException {
        Path labels = SUBSET.resolve("train-labels-idx1-ubyte.gz");
        Path images = SUBSET.resolve("train-images-idx3-ubyte.gz");

        assertFormatError(() -> IdxReader.readImages(labels), labels, "wrong dimension count", "expected 3",
                "found 1");
        assertFormatError(() -> IdxReader.readLabels(images), images, "wrong dimension count", "expected 1",
                "found 3");
    }

    @Test
    void imagesAndLabelsWhoseCountsDisagreeAreRejectedNamingBothFiles() throws IOException {
        Path images = write(dir, "images.gz", idx(IMAGES_MAGIC, new int[] {3, 2, 2}, new byte[12]));
        Path labels = write(dir, "labels.gz", idx(LABELS_MAGIC, new int[] {2}, new byte[2]));

        assertFormatError(() -> IdxReader.readLabeledImages(images, labels, 1), images, "counts disagree",
                "3 images", "2 labels", labels.toString());
    }

    @Test
    void absurdDimensionsAreRejectedBeforeAnythingIsAllocated() throws IOException {
        Path noRows = write(dir, "rows.gz", idx(IMAGES_MAGIC, new int[] {1, 0, 28}, new byte[0]));
        Path wide = write(dir, "cols.gz", idx(IMAGES_MAGIC, new int[] {1, 28, 5000}, new byte[0]));
        Path negative = write(dir, "count.gz", idx(IMAGES_MAGIC, new int[] {-5, 28, 28}, new byte[0]));
        Path huge = write(dir, "huge.gz", idx(IMAGES_MAGIC, new int[] {Integer.MAX_VALUE, 28, 28}, new byte[0]));

        assertFormatError(() -> IdxReader.readImages(noRows), noRows, "absurd dimensions", "rows must be in 1..4096",
                "was 0");
        assertFormatError(() -> IdxReader.readImages(wide), wide, "absurd dimensions", "cols must be in 1..4096",
                "was 5000");
        assertFormatError(() -> IdxReader.readImages(negative), negative, "absurd dimensions",
                "count must be >= 0, was -5");
        assertFormatError(() -> IdxReader.readImages(huge), huge, "absurd dimensions", "<= 1000000000 bytes");
    }

    @Test
    void aHeaderThatPromisesMoreThanTheGzipFileCanHoldFailsWithoutAllocating() throws IOException {
        Path file = write(dir, "lie.gz", idx(IMAGES_MAGIC, new int[] {1_000_000, 28, 28}, new byte[0]));

        assertFormatError(() -> IdxReader.readImages(file), file, "truncated data", "expected 784000000 bytes",
                "inflates to at most");
    }

    @Test
    void randomBytesNamedGzAreNotInGzipFormat() throws IOException {
        byte[] noise = new byte[1000];
        new Random(1).nextBytes(noise);
        noise[0] = 0x42;
        Path file = Files.write(dir.resolve("noise-images-idx3-ubyte.gz"), noise);

        assertFormatError(() -> IdxReader.readImages(file), file, "not in gzip format");
    }

    @Test
    void aGzipFileCutInTheMiddleIsCorrupt() throws IOException {
        byte[] whole = Files.readAllBytes(SUBSET.resolve("t10k-images-idx3-ubyte.gz"));
        Path file = Files.write(dir.resolve("cut-images-idx3-ubyte.gz"), Arrays.copyOf(whole, whole.length / 2));

        assertFormatError(() -> IdxReader.readImages(file), file, "corrupt gzip data");
    }

    @Test
    void aGzipFileWithADamagedChecksumIsCorrupt() throws IOException {
        byte[] bytes = gzip(idx(LABELS_MAGIC, new int[] {3}, new byte[] {1, 2, 3}));
        bytes[bytes.length - 6] ^= 0x55;    // inside the CRC-32 of the gzip trailer
        Path file = Files.write(dir.resolve("crc-labels.gz"), bytes);

        assertFormatError(() -> IdxReader.readLabels(file), file, "corrupt gzip data");
        // only the trailer tells: reading the first item alone must read on to it
        assertFormatError(() -> IdxReader.readLabels(file, 1), file, "corrupt gzip data");
        Path images = Files.write(dir.resolve("crc-images.gz"), damagedTrailer(SUBSET.resolve(
                "t10k-images-idx3-ubyte.gz")));
        assertFormatError(() -> IdxReader.readImages(images, 10), images, "corrupt gzip data");
    }

    private static byte[] damagedTrailer(Path gzip) throws IOException {
        byte[] bytes = Files.readAllBytes(gzip);
        bytes[bytes.length - 6] ^= 0x55;    // inside the CRC-32 of the gzip trailer
        return bytes;
    }

    @Test
    void aLabelOutsideTheTenClassesNamesTheItemAndTheLabel() throws IOException {
        Path file = write(dir, "labels.gz", idx(LABELS_MAGIC, new int[] {4}, new byte[] {0, 9, 12, 3}));

        assertFormatError(() -> IdxReader.readLabels(file), file, "label outside 0..9", "item 2", "label 12");
    }

    @Test
    void moreDataThanTheHeaderAnnouncesIsRejected() throws IOException {
        Path file = write(dir, "long-labels", idx(LABELS_MAGIC, new int[] {2}, new byte[] {1, 2, 3}));

        assertFormatError(() -> IdxReader.readLabels(file), file, "more data than the header announces");
        assertThat(IdxReader.readLabels(file, 1).labels()).containsExactly(1);
    }

    @Test
    void aMissingFileIsNoSuchFileNamingIt() {
        Path file = dir.resolve("absent-images-idx3-ubyte.gz");

        assertThatThrownBy(() -> IdxReader.readImages(file)).isInstanceOf(NoSuchFileException.class)
                .hasMessage(file + ": no such IDX file");
    }

    @Test
    void aNegativeLimitIsRejected() {
        assertThatThrownBy(() -> IdxReader.readLabels(SUBSET.resolve("t10k-labels-idx1-ubyte.gz"), -1))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("limit must be >= 0, was -1");
    }

    private static void assertFormatError(ThrowingCall call, Path file, String... problem) {
        IdxFormatException e = catchThrowableOfType(IdxFormatException.class, call::run);

        assertThat(e).as("expected an IdxFormatException").isNotNull();
        assertThat(e.file()).isEqualTo(file);
        assertThat(e.getMessage()).startsWith(file + ": ").contains(problem).doesNotContain("\n");
    }

    /** A read that is expected to fail. */
    @FunctionalInterface
    private interface ThrowingCall {
        void run() throws Exception;
    }
}
