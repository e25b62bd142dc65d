package com.example.ema4j;

import java.nio.file.Path;

/** Where the tests find Fashion-MNIST: the 2,000-image subset that ema4j's own tests use. */
final class Data {
    static final Path FASHION_MNIST_SUBSET = Path.of("../testdata/fashion-mnist-subset");

    private Data() {}
}
