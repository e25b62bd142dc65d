package ema4j.demo.diffusion;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.GradientCollector;
import ai.djl.training.ParameterStore;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
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

    @Test
    void aForwardPassLeavesNoArraysWithTheParameters() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            Block unet = DiffusionFixtures.unet(manager, 1, 2);
            List<Integer> held = new ArrayList<>();
            for (int pass = 0; pass < 3; pass++) {
                try (NDManager batch = manager.newSubManager()) {
                    predict(unet, batch.randomNormal(new Shape(2, 1, 28, 28)), batch.create(new float[] {3, 700}));
                }
                held.add(manager.getManagedArrays().size());
            }
            assertThat(held).as("arrays of the parameters' manager after each pass").containsOnly(held.get(0));
        }
    }

    @Test
    void aGarbageCollectionBetweenForwardAndBackwardLeavesTheGradientsAsTheyWere() {
        List<float[]> undisturbed = gradients(false);
        List<float[]> collected = gradients(true);

        List<String> names = names(FashionUNet.block());
        assertThat(collected).hasSameSizeAs(undisturbed);
        for (int i = 0; i < undisturbed.size(); i++) {
            float[] expected = undisturbed.get(i);
            float[] actual = collected.get(i);
            int differs = Arrays.mismatch(actual, expected);
            assertThat(differs).as("first element of the gradient of %s that changed (%s instead of %s)", names.get(i),
                    differs < 0 ? null : actual[differs], differs < 0 ? null : expected[differs]).isEqualTo(-1);
        }
    }

    /**
     * The gradient of every parameter after one training forward, the DDPM loss and backward on fixed data; with
     * {@code collectGarbage}, the garbage collector runs between the loss and backward, as it may in a training step.
     */
    private static List<float[]> gradients(boolean collectGarbage) {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            Block unet = DiffusionFixtures.unet(manager, 5, 2);
            Random random = new Random(11);
            float[] pixels = new float[2 * 28 * 28];
            for (int i = 0; i < pixels.length; i++) {
                pixels[i] = random.nextFloat();
            }
            NDArray images = manager.create(pixels, new Shape(2, 1, 28, 28));
            DdpmTraining.NoisedBatch noised = new DdpmTraining(NoiseSchedule.ddpm()).noise(images, 7);
            try (GradientCollector collector = Engine.getInstance().newGradientCollector()) {
                NDArray predicted = unet.forward(new ParameterStore(manager, false), noised.inputs(), true)
                        .singletonOrThrow();
                NDArray loss = DdpmTraining.loss().evaluate(noised.labels(), new NDList(predicted));
                if (collectGarbage) {
                    DiffusionFixtures.collectGarbage();
                }
                collector.backward(loss);
            }
            List<float[]> gradients = new ArrayList<>();
            for (Parameter parameter : unet.getParameters().values()) {
                gradients.add(parameter.getArray().getGradient().toFloatArray());
            }
            return gradients;
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
