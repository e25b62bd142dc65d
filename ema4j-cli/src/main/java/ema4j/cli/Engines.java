package ema4j.cli;

/** Settings of DJL's PyTorch engine that must be made before the engine loads. */
final class Engines {
    private Engines() {}

    /**
     * Sets PyTorch's intra-op threads (and one inter-op thread) for reproducible timings and results; effective
     * only before the engine is first used in this JVM.
     */
    static void configureThreads(int threads) {
        System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(threads));
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
    }
}
