package ema4j.cli.train;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.Model;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ema4j.demo.model.FashionCnn;
import ema4j.demo.model.FashionResNet;
import ema4j.demo.model.FashionVit;
import ema4j.demo.model.SavedWeights;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The classifier a run trains on Fashion-MNIST, as {@code --model} chooses it; written in lower case, as on the
 * command line. A model saved through {@link #save} records which it is (the DJL model property {@value #PROPERTY}),
 * so that {@link #load} refuses the weights of another naming both.
 */
public enum FashionModel {
    /** The small CNN with BatchNorm, {@link FashionCnn}. */
    CNN("this CNN"),
    /** The residual network with BatchNorm after He et al. 2016, {@link FashionResNet}. */
    RESNET("this ResNet"),
    /** The Vision Transformer with LayerNorm and optional dropout, {@link FashionVit}. */
    VIT("this ViT");

    /** The DJL model property naming the classifier a saved model holds. */
    public static final String PROPERTY = "ema4j.model";

    private final String description;

    FashionModel(String description) {
        this.description = description;
    }

    /** A fresh, uninitialized block without dropout, to train or to load saved weights into. */
    public Block block() {
        return block(0);
    }

    /**
     * A fresh, uninitialized block; every call builds the same parameter names.
     *
     * @param dropout the ViT's dropout rate in [0, 1); 0 for the others, which have no dropout
     * @throws IllegalArgumentException if {@code dropout} is out of range or not 0 for a model without dropout
     */
    public Block block(float dropout) {
        requireArgument(dropout == 0 || this == VIT, "--dropout", "0 for --model " + this + " (only vit has"
                + " dropout)", dropout);
        return switch (this) {
            case CNN -> FashionCnn.block();
            case RESNET -> FashionResNet.block();
            case VIT -> FashionVit.block(dropout);
        };
    }

    /** Input shape of one batch of one image: (batch, channel, height, width). */
    public Shape input() {
        return switch (this) {
            case CNN -> FashionCnn.INPUT;
            case RESNET -> FashionResNet.INPUT;
            case VIT -> FashionVit.INPUT;
        };
    }

    /** Whether the model has BatchNorm layers, whose running statistics {@code recalibrate-bn} recomputes. */
    public boolean hasBatchNorm() {
        return this != VIT;
    }

    /** Saves {@code model} as {@code dir/name-0000.params}, recording that it is this classifier. */
    public void save(Model model, Path dir, String name) throws IOException {
        model.setProperty(PROPERTY, toString());
        model.save(dir, name);
    }

    /**
     * Loads {@code dir/name-0000.params} into the block of {@code model}, one of {@link #block()}.
     *
     * @throws IllegalArgumentException when the file records another classifier (the message names both), holds
     *     another architecture or is cut short
     * @throws IOException when the file cannot be read
     */
    public void load(Model model, Path dir, String name) throws IOException {
        try {
            SavedWeights.load(model, dir, name, description);
        } catch (IllegalArgumentException e) {
            requireSavedAsThis(model, dir.resolve(name + "-0000.params"));
            throw e;
        }
        requireSavedAsThis(model, dir.resolve(name + "-0000.params"));
    }

    /** Fails when the file records another classifier; DJL has read its properties even when the weights failed. */
    private void requireSavedAsThis(Model model, Path file) {
        String saved = model.getProperty(PROPERTY);
        requireArgument(saved == null || saved.equals(toString()), "--model", saved + ", the model " + file
                + " holds", this);
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
