package com.example.ema4j;

import static org.assertj.core.api.Assertions.assertThat;

import ema4j.training.posthoc.PostHocEma;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class PostHocReconstructionTest {

    @Test
    void anEmaLengthThatWasNeverTrackedIsReconstructedLoadedAndEvaluated(@TempDir Path out) throws Exception {
        ResumableTraining.run(Data.FASHION_MNIST_SUBSET, out, 2);
        assertThat(PostHocEma.builder(out.resolve("posthoc")).build().snapshots())
                .as("two tracked lengths, every 10 of 80 steps").hasSize(16);
        PostHocReconstruction.Result r = PostHocReconstruction.run(Data.FASHION_MNIST_SUBSET, out, 0.07);
        assertThat(r.residual()).isLessThan(0.05);
        assertThat(r.accuracy()).as("test accuracy of the reconstructed EMA (chance is 0.1)").isGreaterThan(0.6);
    }
}
