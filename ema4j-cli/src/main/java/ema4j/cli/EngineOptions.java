package ema4j.cli;

import picocli.CommandLine.Option;

/** The PyTorch engine settings of the commands that run it ({@code --threads}), made before the engine loads. */
final class EngineOptions {
    @Option(names = "--threads", defaultValue = "2", description = "PyTorch threads. Default: ${DEFAULT-VALUE}.")
    int threads;

    /**
     * Sets PyTorch's intra-op threads (and one inter-op thread) for reproducible timings and results; effective
     * only before the engine is first used in this JVM.
     */
    void configure() {
        int cores = Runtime.getRuntime().availableProcessors();
        ema4j.core.internal.Preconditions.requireArgument(threads >= 1 && threads <= cores, "--threads", "in [1, " + cores
                + "]", threads);
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
    }
}
