package ema4j.demo.metric;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.core.Linear;
import ai.djl.training.ParameterStore;
import ema4j.demo.model.FashionCnn;
import ema4j.demo.model.FashionResNet;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ClassifierFeaturesTest {
    private NDManager manager;

    @BeforeEach
    void openManager() {
        manager = NDManager.newBaseManager("PyTorch");
        Engine.getInstance().setRandomSeed(3);
    }

    @AfterEach
    void closeManager() {
        manager.close();
    }

    @Test
    void theClassLayerAppliedToTheFeaturesGivesTheClassifiersScores() {
        Block cnn = initialized(FashionCnn.block());
        NDArray images = manager.randomUniform(0, 1, new Shape(5, 1, 28, 28));

        NDArray features = ClassifierFeatures.of(cnn).forward(images);

        assertThat(features.getShape()).isEqualTo(new Shape(5, 128));
        ParameterStore store = new ParameterStore(manager, false);
        Block classLayer = cnn.getChildren().values().get(cnn.getChildren().size() - 1);
        assertThat(classLayer).isInstanceOf(Linear.class);
        float[] fromFeatures = classLayer.forward(store, new NDList(features), false).singletonOrThrow().toFloatArray();
        float[] scores = cnn.forward(store, new NDList(images), false).singletonOrThrow().toFloatArray();
        for (int i = 0; i < scores.length; i++) {
            assertThat(fromFeatures[i]).isCloseTo(scores[i], within(1e-5f));
        }
    }

    @Test
    void manyImagesGoThroughInChunksToTheSameRows() {
        Block resnet = initialized(FashionResNet.block());
        NDArray images = manager.randomUniform(0, 1, new Shape(300, 1, 28, 28));
        ClassifierFeatures features = ClassifierFeatures.of(resnet);

        double[][] rows = features.features(images);

        assertThat(rows).hasNumberOfRows(300);
        float[] last = features.forward(images.get("299:300")).toFloatArray();
        assertThat(rows[299]).hasSize(64);
        for (int j = 0; j < 64; j++) {
            assertThat(rows[299][j]).isCloseTo(last[j], within(1e-5));
        }
    }

    @Test
    void aBlockThatIsNotASequenceIsRefused() {
        assertThatThrownBy(() -> ClassifierFeatures.of(Linear.builder().setUnits(10).build()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("classifier must be a SequentialBlock ending in its class layer, was Linear");
    }

    @Test
    void anUninitializedClassifierIsRefused() {
        assertThatThrownBy(() -> ClassifierFeatures.of(FashionCnn.block()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("classifier must be initialized, was uninitialized");
    }

    private Block initialized(Block block) {
        block.initialize(manager, DataType.FLOAT32, FashionCnn.INPUT);
        return block;
    }
}
