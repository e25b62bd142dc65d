package ema4j.demo.data;

/** The two parts of Fashion-MNIST as published: 60,000 training items and 10,000 test items. */
public enum Split {
    /** The training part, files {@code train-images-idx3-ubyte} and {@code train-labels-idx1-ubyte}. */
    TRAIN("train"),
    /** The test part, files {@code t10k-images-idx3-ubyte} and {@code t10k-labels-idx1-ubyte}. */
    TEST("t10k");

    private final String filePrefix;

    Split(String filePrefix) {
        this.filePrefix = filePrefix;
    }

    /**
     * Returns the name of this part's images file in the published dataset.
     *
     * @return e.g. {@code train-images-idx3-ubyte.gz}
     */
    public String imagesFileName() {
        return filePrefix + "-images-idx3-ubyte.gz";
    }

    /**
     * Returns the name of this part's labels file in the published dataset.
     *
     * @return e.g. {@code train-labels-idx1-ubyte.gz}
     */
    public String labelsFileName() {
        return filePrefix + "-labels-idx1-ubyte.gz";
    }
}
