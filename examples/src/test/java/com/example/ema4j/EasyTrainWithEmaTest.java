package com.example.ema4j;

import static org.assertj.core.api.Assertions.assertThat;

import ema4j.djl.EpochResult;
import java.util.List;
import org.junit.jupiter.api.Test;

class EasyTrainWithEmaTest {

    @Test
    void easyTrainFitsTheResidualCnnAndTheListenerValidatesRawAndEmaWeightsEveryEpoch() throws Exception {
        List<EpochResult> results = EasyTrainWithEma.fit(Data.FASHION_MNIST_SUBSET, 3);

        assertThat(results).extracting(EpochResult::epoch).containsExactly(1, 2, 3);
        EpochResult last = results.get(2);
        assertThat(last.emaUpdates()).as("one EMA update per optimizer step").isEqualTo(3 * 2000 / 50);
        assertThat(last.raw().metric("Accuracy")).as("raw accuracy (chance is 0.1)").isGreaterThan(0.7);
        assertThat(last.ema().metric("Accuracy")).as("EMA accuracy (chance is 0.1)").isGreaterThan(0.7);
    }
}
