package ema4j.cli;

import picocli.CommandLine.Option;

/** Where a training command keeps its checkpoints and how it resumes ({@code train} and {@code diffusion train}). */
final class CheckpointOptions {
    @Option(names = "--checkpoint-every", defaultValue = "0", paramLabel = "N",
            description = "Save a checkpoint (OUT/checkpoints) every N steps; 0 saves only at the end."
                    + " Default: ${DEFAULT-VALUE}.")
    int every;

    @Option(names = "--keep-last", defaultValue = "3",
            description = "Complete checkpoints of this run to keep. Default: ${DEFAULT-VALUE}.")
    int keepLast;

    @Option(names = "--resume", paramLabel = "latest|DIR",
            description = "Resume from the newest complete checkpoint in OUT/checkpoints (latest) or from DIR.")
    String resume;
}
