package ema4j.cli.example;

import static org.assertj.core.api.Assertions.assertThat;

import ema4j.demo.data.FashionMnistFiles;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmaTrainingLoopTest {

    @Test
    void theSeedLoopTrainsValidatesTheEmaAndSavesBothModels(@TempDir Path out) throws Exception {
        FashionMnistFiles subset = FashionMnistFiles.locate(Path.of("../testdata/fashion-mnist-subset"));
        double accuracy = EmaTrainingLoop.run(subset, 2, 2000, out);
        assertThat(accuracy).isGreaterThan(0.5);
        assertThat(out.resolve("fmnist-0000.params")).isRegularFile();
        assertThat(out.resolve("fmnist-ema-0000.params")).isRegularFile();
    }
}
