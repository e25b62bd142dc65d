package ema4j.demo.metric;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.training.ParameterStore;
import java.util.List;

/**
 * The feature space of {@link FrechetDistance}: the activations that a trained Fashion-MNIST classifier feeds into its
 * class layer, the role Inception-v3's pool features play in FID (Heusel et al. 2017).
 *
 * <p>The classifier must be a {@link SequentialBlock} whose last child is the class layer, as
 * {@code ema4j.demo.model.FashionCnn} (128 features after the hidden layer's ReLU), {@code FashionResNet} (64 pooled
 * features) and {@code FashionVit} (64 features of the normalized class token) are; the features are the output of
 * all the other children in inference mode (BatchNorm with its running statistics, no dropout). Distances in the
 * space of one classifier are comparable with each other only: a retrained classifier is another ruler, and none of
 * them is Inception's. Thread-safe as far as the classifier's forward pass is.
 */
public final class ClassifierFeatures {
    /** Images per forward pass in {@link #features}, to bound the memory of the activations. */
    private static final int CHUNK = 256;

    private final List<Block> trunk;

    private ClassifierFeatures(List<Block> trunk) {
        this.trunk = trunk;
    }

    /**
     * The features of {@code classifier}, read before its last child.
     *
     * @param classifier an initialized (trained) {@link SequentialBlock} of at least two children, the last the class
     *     layer
     * @return the feature extractor; it shares the classifier's parameters
     * @throws IllegalArgumentException if the classifier is not such a block
     */
    public static ClassifierFeatures of(Block classifier) {
        requireArgument(classifier instanceof SequentialBlock, "classifier", "a SequentialBlock ending in its class"
                + " layer", classifier == null ? null : classifier.getClass().getSimpleName());
        List<Block> children = classifier.getChildren().values();
        requireArgument(children.size() >= 2, "classifier's children", ">= 2", children.size());
        requireArgument(classifier.isInitialized(), "classifier", "initialized", "uninitialized");
        return new ClassifierFeatures(List.copyOf(children.subList(0, children.size() - 1)));
    }

    /**
     * Computes the features of a batch of images in one forward pass.
     *
     * @param images (batch, 1, 28, 28) float32 pixels in [0, 1], as the classifier was trained on
     * @return (batch, features), on the manager of {@code images}
     */
    public NDArray forward(NDArray images) {
        ParameterStore store = new ParameterStore(images.getManager(), false);
        NDList x = new NDList(images);
        for (Block block : trunk) {
            x = block.forward(store, x, false);
        }
        return x.singletonOrThrow();
    }

    /**
     * Computes the features of any number of images, {@value #CHUNK} at a time, as the rows that
     * {@link FrechetDistance} and {@link FeatureStatistics} take.
     *
     * @param images (count, 1, 28, 28) float32 pixels in [0, 1]
     * @return count rows of features
     */
    public double[][] features(NDArray images) {
        int count = Math.toIntExact(images.getShape().get(0));
        double[][] rows = new double[count][];
        for (int start = 0; start < count; start += CHUNK) {
            try (NDManager scope = images.getManager().newSubManager()) {
                NDArray chunk = images.get(start + ":" + Math.min(count, start + CHUNK));
                chunk.attach(scope);
                NDArray features = forward(chunk);
                int width = Math.toIntExact(features.getShape().get(1));
                float[] values = features.toFloatArray();
                for (int i = 0; i < values.length / width; i++) {
                    double[] row = new double[width];
                    for (int j = 0; j < width; j++) {
                        row[j] = values[i * width + j];
                    }
                    rows[start + i] = row;
                }
            }
        }
        return rows;
    }
}
