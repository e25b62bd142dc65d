package ema4j.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * {@code ema4j diffusion}: a small DDPM on Fashion-MNIST trained with an EMA and post-hoc snapshots
 * ({@code diffusion train}), and its samples scored for raw weights, the EMA and post-hoc EMAs ({@code diffusion
 * score}); the score is a Fréchet distance in a Fashion-MNIST classifier's features, not Inception FID.
 */
@Command(name = "diffusion", mixinStandardHelpOptions = true,
        subcommands = {DiffusionTrainCommand.class, DiffusionScoreCommand.class},
        description = "Train a small diffusion U-Net on Fashion-MNIST (DDPM, Ho et al. 2020) with an EMA and post-hoc"
                + " EMA snapshots, then score DDIM samples (Song et al. 2021) of the raw weights, the EMA and post-hoc"
                + " EMAs (Karras et al. 2024) by the Fréchet distance in a Fashion-MNIST classifier's features."
                + " That distance is NOT Inception FID and not comparable with published FIDs.")
final class DiffusionCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }
}
