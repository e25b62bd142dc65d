package ema4j.cli;

import java.util.List;
import picocli.CommandLine.Option;

/** The post-hoc EMA snapshots a training command records ({@code train} and {@code diffusion train}). */
final class SnapshotOptions {
    @Option(names = "--posthoc-every", defaultValue = "0", paramLabel = "N",
            description = "Record post-hoc EMA snapshots (OUT/posthoc) every N steps and at the end, for"
                    + " 'ema4j posthoc'; 0 records none. Default: ${DEFAULT-VALUE}.")
    int every;

    @Option(names = "--posthoc-sigma-rel", defaultValue = "0.05,0.10", split = ",", paramLabel = "S[,S...]",
            description = "The sigma_rel of each power-function EMA the snapshots record (EDM2's two by default)."
                    + " Default: ${DEFAULT-VALUE}.")
    List<Double> sigmaRels;
}
