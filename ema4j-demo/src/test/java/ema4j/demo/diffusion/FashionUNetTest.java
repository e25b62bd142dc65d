package ema4j.demo.diffusion;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class FashionUNetTest {
    @Test
    void thePredictedNoiseHasTheShapeOfTheImages() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            Block unet = DiffusionFixtures.unet(manager, 1, 3);
            NDArray images = manager.randomNormal(new Shape(3, 1, 28, 28));

            NDArray noise = predict(unet, images, manager.create(new float[] {0, 500, 999}));

            assertThat(noise.getShape()).isEqualTo(images.getShape());
            assertThat(unet.getOutputShapes(new Shape[] {images.getShape(), new Shape(3)}))
                    .containsExactly(images.getShape());
        }
    }

    @Test
    void theTimestepChangesThePrediction() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            Block unet = DiffusionFixtures.unet(manager, 1, 2);
            NDArray images = manager.randomNormal(new Shape(1, 1, 28, 28)).repeat(0, 2);

            NDArray noise = predict(unet, images, manager.create(new float[] {10, 900}));

            float difference = noise.get(0).sub(noise.get(1)).abs().max().getFloat();
            assertThat(difference).isGreaterThan(1e-3f);
        }
    }

    @Test
    void everyBlockHasTheSameParameterNames() {
        assertThat(names(FashionUNet.block())).isNotEmpty().doesNotHaveDuplicates()
                .isEqualTo(names(FashionUNet.block()));
    }

    @Test
    void itHasAboutThreeHundredThousandParameters() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            long count = 0;
            for (var parameter : DiffusionFixtures.unet(manager, 1, 1).getParameters().values()) {
                count += parameter.getArray().size();
            }
            assertThat(count).isBetween(250_000L, 350_000L);
        }
    }

    private static NDArray predict(Block unet, NDArray images, NDArray timesteps) {
        return unet.forward(new ParameterStore(images.getManager(), false), new NDList(images, timesteps), false)
                .singletonOrThrow();
    }

    private static List<String> names(Block block) {
        List<String> names = new ArrayList<>();
        block.getParameters().forEach(p -> names.add(p.getKey()));
        return names;
    }
}
