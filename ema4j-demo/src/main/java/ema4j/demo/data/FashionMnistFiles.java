package ema4j.demo.data;

import static ema4j.core.internal.Preconditions.requireArgument;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Where the four Fashion-MNIST files are: images and labels of the training and the test part, each either
 * gzip-compressed with the published name ({@code train-images-idx3-ubyte.gz}) or plain with the same name less
 * {@code .gz}. Only locates the files; {@link IdxReader} reads them.
 *
 * @param trainImages the training images file
 * @param trainLabels the training labels file
 * @param testImages the test images file
 * @param testLabels the test labels file
 */
public record FashionMnistFiles(Path trainImages, Path trainLabels, Path testImages, Path testLabels) {
    /** Where the {@code dataset-fashion-mnist} package installs the dataset. */
    public static final Path DEFAULT_DIR = Path.of("/usr/share/datasets/fashion-mnist/");

    /** Checks that every path is given. */
    public FashionMnistFiles {
        requireArgument(trainImages != null, "trainImages", "non-null", null);
        requireArgument(trainLabels != null, "trainLabels", "non-null", null);
        requireArgument(testImages != null, "testImages", "non-null", null);
        requireArgument(testLabels != null, "testLabels", "non-null", null);
    }

    /**
     * Finds the four files in {@link #DEFAULT_DIR}.
     *
     * @return the files
     * @throws DataMissingException if any file is missing
     */
    public static FashionMnistFiles locateDefault() {
        return locate(DEFAULT_DIR);
    }

    /**
     * Finds the four files in {@code dir}, preferring the {@code .gz} name when both forms are present.
     *
     * @param dir the directory that holds them
     * @return the files
     * @throws DataMissingException if any file is missing, naming all that are
     */
    public static FashionMnistFiles locate(Path dir) {
        requireArgument(dir != null, "dir", "non-null", null);
        List<String> missing = new ArrayList<>();
        Path trainImages = find(dir, Split.TRAIN.imagesFileName(), missing);
        Path trainLabels = find(dir, Split.TRAIN.labelsFileName(), missing);
        Path testImages = find(dir, Split.TEST.imagesFileName(), missing);
        Path testLabels = find(dir, Split.TEST.labelsFileName(), missing);
        if (!missing.isEmpty()) {
            throw new DataMissingException(dir, missing);
        }
        return new FashionMnistFiles(trainImages, trainLabels, testImages, testLabels);
    }

    /**
     * Returns the images file of one part.
     *
     * @param split the part
     * @return its images file
     */
    public Path images(Split split) {
        requireArgument(split != null, "split", "non-null", null);
        return split == Split.TRAIN ? trainImages : testImages;
    }

    /**
     * Returns the labels file of one part.
     *
     * @param split the part
     * @return its labels file
     */
    public Path labels(Split split) {
        requireArgument(split != null, "split", "non-null", null);
        return split == Split.TRAIN ? trainLabels : testLabels;
    }

    private static Path find(Path dir, String gzName, List<String> missing) {
        Path gz = dir.resolve(gzName);
        if (Files.isRegularFile(gz)) {
            return gz;
        }
        Path plain = dir.resolve(gzName.substring(0, gzName.length() - ".gz".length()));
        if (Files.isRegularFile(plain)) {
            return plain;
        }
        missing.add(gzName);
        return null;
    }
}
