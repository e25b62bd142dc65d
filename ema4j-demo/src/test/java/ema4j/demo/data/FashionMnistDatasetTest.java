package ema4j.demo.data;

import static ema4j.demo.data.IdxFiles.SUBSET;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Record;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class FashionMnistDatasetTest {
    private static final FashionMnistFiles FILES = FashionMnistFiles.locate(SUBSET);

    private NDManager manager;

    @BeforeEach
    void openManager() {
        manager = NDManager.newBaseManager("PyTorch");
    }

    @AfterEach
    void closeManager() {
        manager.close();
    }

    @Test
    void theSubsetsSizesAreTheNumbersOfImages() throws IOException, TranslateException {
        FashionMnistDataset train = dataset(Split.TRAIN, 32, false);
        FashionMnistDataset test = dataset(Split.TEST, 32, false);
        train.prepare();
        test.prepare();

        assertThat(train.size()).isEqualTo(2000);
        assertThat(test.size()).isEqualTo(500);
    }

    @Test
    void aLimitKeepsTheFirstItems() throws IOException, TranslateException {
        FashionMnistDataset limited = FashionMnistDataset.builder().files(FILES).split(Split.TRAIN).limit(100)
                .setSampling(32, false).build();
        limited.prepare();

        assertThat(limited.size()).isEqualTo(100);
    }

    @Test
    void aRecordIsOneScaledImageAndItsClass() throws IOException, TranslateException {
        FashionMnistDataset test = dataset(Split.TEST, 32, false);
        test.prepare();
        IdxLabels labels = IdxReader.readLabels(FILES.labels(Split.TEST));

        Record record = test.get(manager, 7);

        assertThat(record.getData()).hasSize(1);
        NDArray image = record.getData().singletonOrThrow();
        assertThat(image.getShape()).isEqualTo(new Shape(1, 28, 28));
        assertThat(image.getDataType()).isEqualTo(DataType.FLOAT32);
        assertThat(image.min().getFloat()).isGreaterThanOrEqualTo(0f);
        assertThat(image.max().getFloat()).isLessThanOrEqualTo(1f).isGreaterThan(0f);
        NDArray label = record.getLabels().singletonOrThrow();
        assertThat(label.getShape()).isEqualTo(new Shape(1));
        assertThat(label.getDataType()).isEqualTo(DataType.FLOAT32);
        assertThat(label.getFloat()).isEqualTo(labels.labels()[7]);
    }

    @Test
    void pixelsAreScaledFromBytesByDividingBy255() throws IOException, TranslateException {
        FashionMnistDataset train = dataset(Split.TRAIN, 32, false);
        train.prepare();
        byte[] pixels = IdxReader.readImages(FILES.images(Split.TRAIN), 1).pixels();

        float[] image = train.get(manager, 0).getData().singletonOrThrow().toFloatArray();

        for (int i = 0; i < pixels.length; i++) {
            assertThat(image[i]).isEqualTo((pixels[i] & 0xFF) / 255f);
        }
    }

    @Test
    void everyLabelIsAClassFromZeroToNine() throws IOException, TranslateException {
        FashionMnistDataset test = dataset(Split.TEST, 500, false);

        Batch batch = test.getData(manager).iterator().next();
        float[] labels = batch.getLabels().singletonOrThrow().toFloatArray();
        batch.close();

        assertThat(labels).hasSize(500).containsOnly(0f, 1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f, 9f);
    }

    @Test
    void aBatchOf32StacksImagesAndLabels() throws IOException, TranslateException {
        FashionMnistDataset train = dataset(Split.TRAIN, 32, true);

        Iterator<Batch> batches = train.getData(manager).iterator();
        Batch batch = batches.next();

        assertThat(batch.getSize()).isEqualTo(32);
        assertThat(batch.getData().singletonOrThrow().getShape()).isEqualTo(new Shape(32, 1, 28, 28));
        assertThat(batch.getLabels().singletonOrThrow().getShape()).isEqualTo(new Shape(32, 1));
        batch.close();
    }

    @Test
    void theSameSeedGivesTheSameShuffledOrder() throws IOException, TranslateException {
        FashionMnistDataset train = dataset(Split.TRAIN, 64, true);

        List<float[]> first = firstLabelsTwiceWithSeed(train, 42);
        List<float[]> again = firstLabelsTwiceWithSeed(train, 42);

        assertThat(again.get(0)).isEqualTo(first.get(0));
        assertThat(again.get(1)).isEqualTo(first.get(1));
        assertThat(first.get(1)).as("the second epoch is shuffled anew").isNotEqualTo(first.get(0));
    }

    @Test
    void getBeforePrepareIsALifecycleError() {
        FashionMnistDataset train = dataset(Split.TRAIN, 32, false);

        assertThatThrownBy(() -> train.get(manager, 0)).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("call prepare() first");
    }

    @Test
    void theBuilderNamesWhatIsMissing() {
        assertThatThrownBy(() -> FashionMnistDataset.builder().split(Split.TRAIN).setSampling(32, false).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessage("files must be set, was null");
        assertThatThrownBy(() -> FashionMnistDataset.builder().files(FILES).split(Split.TRAIN).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("sampling must be set");
        assertThatThrownBy(() -> FashionMnistDataset.builder().limit(0))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("limit must be >= 1, was 0");
    }

    /** The labels of the first batch of two epochs, the order drawn after seeding. */
    private List<float[]> firstLabelsTwiceWithSeed(FashionMnistDataset dataset, int seed)
            throws IOException, TranslateException {
        Engine.getEngine("PyTorch").setRandomSeed(seed);
        List<float[]> result = new ArrayList<>();
        for (int epoch = 0; epoch < 2; epoch++) {
            try (NDManager epochManager = manager.newSubManager()) {
                Batch batch = dataset.getData(epochManager).iterator().next();
                result.add(batch.getLabels().singletonOrThrow().toFloatArray());
                batch.close();
            }
        }
        return result;
    }

    private static FashionMnistDataset dataset(Split split, int batchSize, boolean shuffle) {
        return FashionMnistDataset.builder().files(FILES).split(split).setSampling(batchSize, shuffle).build();
    }
}
