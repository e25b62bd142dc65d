package ema4j.cli;

import ema4j.demo.data.FashionMnistFiles;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Where Fashion-MNIST is read from. */
final class DataOptions {
    @Option(names = "--data", paramLabel = "DIR",
            description = "Directory with the Fashion-MNIST IDX files. Default: " + "/usr/share/datasets/fashion-mnist"
                    + " (apt-get install dataset-fashion-mnist).")
    Path dir;

    FashionMnistFiles files() {
        return dir == null ? FashionMnistFiles.locateDefault() : FashionMnistFiles.locate(dir);
    }
}
