package ema4j.demo.diffusion;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import org.junit.jupiter.api.Test;

class DdimSamplerTest {
    @Test
    void fiftyStepsVisitEveryTwentiethTimestepDownToZero() {
        int[] timesteps = DdimSampler.builder().build().timesteps();

        assertThat(timesteps).hasSize(50).startsWith(980, 960).endsWith(20, 0);
    }

    @Test
    void aSeedGivesTheSameImagesOfTheRightShapeAndRange() {
        DdimSampler sampler = DdimSampler.builder().steps(4).batchSize(2).build();
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            Block unet = DiffusionFixtures.unet(manager, 1, 2);

            NDArray first = sampler.sample(unet, manager, 3, 42);
            NDArray again = sampler.sample(unet, manager, 3, 42);
            NDArray other = sampler.sample(unet, manager, 3, 43);

            assertThat(first.getShape()).isEqualTo(new Shape(3, 1, 28, 28));
            assertThat(again.toFloatArray()).isEqualTo(first.toFloatArray());
            assertThat(other.toFloatArray()).isNotEqualTo(first.toFloatArray());
            assertThat(first.min().getFloat()).isGreaterThanOrEqualTo(0f);
            assertThat(first.max().getFloat()).isLessThanOrEqualTo(1f);
        }
    }

    @Test
    void theBatchSizeDoesNotChangeTheImages() {
        try (NDManager manager = NDManager.newBaseManager("PyTorch")) {
            Block unet = DiffusionFixtures.unet(manager, 1, 3);

            NDArray together = DdimSampler.builder().steps(3).batchSize(3).build().sample(unet, manager, 3, 7);
            NDArray oneByOne = DdimSampler.builder().steps(3).batchSize(1).build().sample(unet, manager, 3, 7);

            assertThat(together.sub(oneByOne).abs().max().getFloat()).isLessThan(1e-4f);
        }
    }

    @Test
    void theBuilderNamesTheValueItRefuses() {
        assertThatThrownBy(() -> DdimSampler.builder().steps(1001).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("steps must be <= the schedule's steps (1000), was 1001");
        assertThatThrownBy(() -> DdimSampler.builder().batchSize(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("batchSize must be >= 1, was 0");
        assertThatThrownBy(() -> DdimSampler.builder().build().sample(null, null, 0, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessage("count must be >= 1, was 0");
    }
}
