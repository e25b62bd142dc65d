package com.example.ema4j;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Dataset;
import ai.djl.util.Pair;
import ema4j.djl.EmaModel;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class QuickStartTest {
    private static final int EPOCHS = 8;

    @Test
    void theQuickStartLearnsWithRawAndEmaWeights() throws Exception {
        QuickStart.TestAccuracy accuracy = QuickStart.run(Data.FASHION_MNIST_SUBSET, EPOCHS);
        assertThat(accuracy.raw()).as("raw accuracy (chance is 0.1)").isGreaterThan(0.7);
        assertThat(accuracy.ema()).as("EMA accuracy (chance is 0.1)").isGreaterThan(0.7);
    }

    @Test
    void theEmaStepsOncePerOptimizerStepAndTheLiveWeightsComeBackBitExactlyAfterTheSwap() throws Exception {
        Engine.getInstance().setRandomSeed(7);
        try (NDManager manager = NDManager.newBaseManager();
                Model model = Model.newInstance("mlp")) {
            Dataset train = FashionMnist.train(manager, Data.FASHION_MNIST_SUBSET, QuickStart.BATCH_SIZE);
            Dataset test = FashionMnist.test(manager, Data.FASHION_MNIST_SUBSET, 100);
            model.setBlock(QuickStart.mlp());
            try (Trainer trainer = model.newTrainer(QuickStart.config())) {
                trainer.initialize(QuickStart.INPUT);
                try (EmaModel ema = QuickStart.train(trainer, train, 2)) {
                    assertThat(ema.status().updates()).isEqualTo(2 * 2000 / QuickStart.BATCH_SIZE);
                    Map<String, byte[]> before = weights(model.getBlock());
                    Map<String, byte[]> swappedIn;
                    swappedIn = ema.withEmaWeights(() -> weights(model.getBlock()));
                    assertThat(before.keySet()).as("parameters whose EMA differs from the live weights")
                            .anyMatch(name -> !Arrays.equals(before.get(name), swappedIn.get(name)));

                    QuickStart.TestAccuracy accuracy = QuickStart.evaluate(trainer, ema, test);
                    Map<String, byte[]> after = weights(model.getBlock());
                    assertThat(accuracy.ema()).isBetween(0.0, 1.0);
                    assertThat(after.keySet()).containsExactlyElementsOf(before.keySet());
                    before.forEach((name, bytes) -> assertThat(after.get(name)).as(name).isEqualTo(bytes));
                }
            }
        }
    }

    /** Every parameter's bytes, by name. */
    private static Map<String, byte[]> weights(Block block) {
        Map<String, byte[]> weights = new LinkedHashMap<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            weights.put(p.getKey(), p.getValue().getArray().toByteArray());
        }
        return weights;
    }
}
