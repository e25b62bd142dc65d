package ema4j.cli.diffusion;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ema4j.demo.data.FashionMnistDataset;
import ema4j.demo.data.FashionMnistFiles;
import ema4j.demo.data.Split;
import ema4j.demo.diffusion.DdimSampler;
import ema4j.demo.metric.ClassifierFeatures;
import ema4j.demo.metric.FeatureStatistics;
import ema4j.demo.metric.FrechetDistance;
import java.io.IOException;

/**
 * How far a diffusion model's samples lie from real Fashion-MNIST test images: the squared Fréchet distance (Heusel
 * et al. 2017) between the Gaussians fitted to the two sets' features in a trained Fashion-MNIST classifier, the
 * samples drawn with deterministic DDIM (Song, Meng and Ermon 2021).
 *
 * <p>This is NOT Inception FID: the ruler is a small classifier of this project, so the numbers rank models scored
 * with the same classifier against each other and are not comparable with published FIDs. Its noise floor, the
 * distance between as many real training images and the test images ({@link #noiseFloor}), is the smallest value
 * that finite samples can be told apart from.
 *
 * <p>Holds the test images' statistics; not thread-safe (the classifier's forward pass runs on the caller's thread).
 */
public final class DiffusionScore {
    /** Images per side of the grid kept of each sampling ({@link Sampled#grid()}). */
    public static final int GRID_SIDE = 8;

    private final ClassifierFeatures features;
    private final FeatureStatistics test;
    private final DdimSampler sampler;

    private DiffusionScore(ClassifierFeatures features, FeatureStatistics test, DdimSampler sampler) {
        this.features = features;
        this.test = test;
        this.sampler = sampler;
    }

    /**
     * The score against {@code testImages} in the feature space of {@code features}.
     *
     * @param features the classifier's features
     * @param testImages (count, 1, 28, 28) real test images, pixels in [0, 1], at least 2
     * @param sampler how samples are drawn
     * @return the score
     */
    public static DiffusionScore against(ClassifierFeatures features, NDArray testImages, DdimSampler sampler) {
        return new DiffusionScore(features, FeatureStatistics.of(features.features(testImages)), sampler);
    }

    /**
     * One sampling of a model: its distance and the first images.
     *
     * @param distance the squared Fréchet distance to the test images, in squared feature units
     * @param grid the first {@code GRID_SIDE * GRID_SIDE} images (or all, if fewer), 784 pixels in [0, 1] each
     */
    public record Sampled(double distance, float[][] grid) {}

    /**
     * The distance of real training images to the test images: the noise floor of the measure at this count.
     *
     * @param trainImages (count, 1, 28, 28) real training images, as many as the samples of a model
     * @return the squared Fréchet distance
     */
    public double noiseFloor(NDArray trainImages) {
        return FrechetDistance.squared(FeatureStatistics.of(features.features(trainImages)), test);
    }

    /**
     * Draws {@code count} images from {@code unet} starting from the noise of {@code seed} and scores them.
     *
     * @param unet an initialized U-Net
     * @param manager the manager the samples live on while they are scored
     * @param count at least 2
     * @param seed the sampling seed
     * @return the distance and the first images
     */
    public Sampled score(Block unet, NDManager manager, int count, long seed) {
        requireArgument(count >= 2, "count", ">= 2 (a covariance needs two)", count);
        try (NDManager scope = manager.newSubManager()) {
            NDArray images = sampler.sample(unet, scope, count, seed);
            double distance = FrechetDistance.squared(FeatureStatistics.of(features.features(images)), test);
            int shown = Math.min(count, GRID_SIDE * GRID_SIDE);
            float[] pixels = images.get("0:" + shown).toFloatArray();
            float[][] grid = new float[shown][];
            int size = pixels.length / shown;
            for (int i = 0; i < shown; i++) {
                grid[i] = java.util.Arrays.copyOfRange(pixels, i * size, (i + 1) * size);
            }
            return new Sampled(distance, grid);
        }
    }

    /**
     * The first {@code count} images of a split of Fashion-MNIST as one array.
     *
     * @param files where the data is
     * @param split the split
     * @param count how many, at least 1
     * @param manager the manager of the result
     * @return (count, 1, 28, 28) float32 pixels in [0, 1]
     * @throws IllegalArgumentException when the split has fewer images (naming {@code --samples})
     * @throws IOException when the files cannot be read
     */
    public static NDArray realImages(FashionMnistFiles files, Split split, int count, NDManager manager)
            throws IOException {
        FashionMnistDataset data = FashionMnistDataset.builder().files(files).split(split).limit(count)
                .setSampling(count, false).build();
        data.prepare(null);
        requireArgument(data.size() >= count, "--samples", "at most the " + data.size() + " " + split.name().toLowerCase(java.util.Locale.ROOT)
                + " images", count);
        NDList images = new NDList();
        for (long i = 0; i < count; i++) {
            images.add(data.get(manager, i).getData().head());
        }
        NDArray stacked = NDArrays.stack(images);
        images.close();
        return stacked;
    }
}
