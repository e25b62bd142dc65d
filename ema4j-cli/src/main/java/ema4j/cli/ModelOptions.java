package ema4j.cli;

import ema4j.cli.train.FashionModel;
import picocli.CommandLine.Option;

/** Which classifier a command trains or loads ({@code --model}). */
final class ModelOptions {
    @Option(names = "--model", defaultValue = "cnn", paramLabel = "cnn|resnet|vit",
            description = "The classifier: cnn (a small CNN with BatchNorm), resnet (a ResNet with BatchNorm, He et al."
                    + " 2016) or vit (a Vision Transformer); saved weights load only as the one that trained them."
                    + " Default: ${DEFAULT-VALUE}.")
    FashionModel model;
}
