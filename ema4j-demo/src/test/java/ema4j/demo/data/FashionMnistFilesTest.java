package ema4j.demo.data;

import static ema4j.demo.data.IdxFiles.SUBSET;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FashionMnistFilesTest {
    @TempDir
    Path dir;

    @Test
    void theSubsetDirectoryHoldsAllFourFiles() {
        FashionMnistFiles files = FashionMnistFiles.locate(SUBSET);

        assertThat(files.images(Split.TRAIN)).isEqualTo(SUBSET.resolve("train-images-idx3-ubyte.gz"));
        assertThat(files.labels(Split.TRAIN)).isEqualTo(SUBSET.resolve("train-labels-idx1-ubyte.gz"));
        assertThat(files.images(Split.TEST)).isEqualTo(SUBSET.resolve("t10k-images-idx3-ubyte.gz"));
        assertThat(files.labels(Split.TEST)).isEqualTo(SUBSET.resolve("t10k-labels-idx1-ubyte.gz"));
    }

    @Test
    void plainFilesWithoutGzAreFoundToo() throws IOException {
        for (String name : new String[] {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte"}) {
            Files.createFile(dir.resolve(name));
        }
        Files.createFile(dir.resolve("t10k-labels-idx1-ubyte.gz"));

        FashionMnistFiles files = FashionMnistFiles.locate(dir);

        assertThat(files.trainImages()).isEqualTo(dir.resolve("train-images-idx3-ubyte"));
        assertThat(files.testLabels()).isEqualTo(dir.resolve("t10k-labels-idx1-ubyte.gz"));
    }

    @Test
    void aMissingDirectorySaysSoAndHowToGetTheData() {
        Path absent = dir.resolve("nowhere");

        assertThatThrownBy(() -> FashionMnistFiles.locate(absent))
                .isInstanceOf(DataMissingException.class)
                .hasMessageContaining("missing in " + absent + " (the directory does not exist)")
                .hasMessageContainingAll("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
                .hasMessageContaining("apt-get install dataset-fashion-mnist")
                .hasMessageContaining("--data DIR")
                .satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
    }

    @Test
    void onlyTheMissingFilesAreListed() throws IOException {
        Files.createFile(dir.resolve("train-images-idx3-ubyte.gz"));
        Files.createFile(dir.resolve("train-labels-idx1-ubyte"));

        assertThatThrownBy(() -> FashionMnistFiles.locate(dir))
                .isInstanceOf(DataMissingException.class)
                .hasMessageContaining("missing in " + dir + ": t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz")
                .message().doesNotContain("train-");
    }
}
