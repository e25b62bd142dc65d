package ema4j.djl;

import static org.assertj.core.api.Assertions.assertThat;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.EasyTrain;
import ai.djl.training.dataset.Batch;
import ai.djl.util.Pair;
import ema4j.core.policy.ParameterRule;
import ema4j.core.schedule.Preset;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** The other ways through an update: by copies, on several threads; all give the same bits. */
class EmaModelPathsTest {

    private static double[][] train(long seed, Function<Block, EmaModel> track) throws Exception {
        try (SmallNet net = new SmallNet(seed)) {
            EmaModel ema = track.apply(net.model.getBlock());
            for (int epoch = 0; epoch < 2; epoch++) {
                for (Batch batch : net.trainer.iterateDataset(net.train)) {
                    try (batch) {
                        EasyTrain.trainBatch(net.trainer, batch);
                        net.trainer.step();
                        ema.step();
                    }
                }
            }
            double[][] shadows = new double[Shadows.names(ema).size()][];
            for (int i = 0; i < shadows.length; i++) {
                shadows[i] = Shadows.of(ema, i);
            }
            ema.close();
            return shadows;
        }
    }

    @Test
    void theCopyingPathOfGpuModelsGivesTheBitsOfTheZeroCopyPath() throws Exception {
        double[][] zeroCopy = train(53, b -> EmaModel.track(b, Preset.SHORT.schedule()));
        double[][] copies = train(53, b -> EmaModel.builder(Preset.SHORT.schedule()).zeroCopy(false).track(b));
        assertThat(copies).isDeepEqualTo(zeroCopy);
    }

    @Test
    void swappingThroughCopiesRestoresTheLiveWeights() throws Exception {
        try (SmallNet net = new SmallNet(55)) {
            EmaModel ema = EmaModel.builder(Preset.SHORT.schedule()).zeroCopy(false).track(net.model.getBlock());
            for (Batch batch : net.trainer.iterateDataset(net.train)) {
                try (batch) {
                    EasyTrain.trainBatch(net.trainer, batch);
                    net.trainer.step();
                    ema.step();
                }
            }
            float[] live = net.values("01Conv2d_weight");
            double[] shadow = Shadows.of(ema, 0);
            try (EmaModel.Swap swap = ema.swapIn()) {
                float[] swapped = net.values("01Conv2d_weight");
                for (int i = 0; i < swapped.length; i++) {
                    assertThat((double) swapped[i]).isEqualTo(shadow[i]);
                }
            }
            assertThat(net.values("01Conv2d_weight")).containsExactly(live);
        }
    }

    @Test
    void severalThreadsGiveTheBitsOfOne() throws Exception {
        double[][] one = train(57, b -> EmaModel.track(b, Preset.SHORT.schedule()));
        double[][] two = train(57, b -> EmaModel.builder(Preset.SHORT.schedule()).threads(2).track(b));
        assertThat(two).isDeepEqualTo(one);
    }

    @Test
    void frozenAndCopiedParametersCostNoShadowMemory() {
        try (SmallNet net = new SmallNet(59)) {
            Block block = net.model.getBlock();
            // freeze everything but the last layer: most of the weights do not train
            for (int i = 0; i < 6; i++) {
                block.getChildren().get(i).getValue().freezeParameters(true);
            }
            EmaModel ema = EmaModel.track(block, Preset.SHORT.schedule());
            long all = 0;
            long averaged = 0;
            for (Pair<String, Parameter> p : block.getParameters()) {
                long bytes = p.getValue().getArray().size() * 4;
                all += bytes;
            }
            for (ParameterReport r : ema.parameters()) {
                if (r.rule() == ParameterRule.AVERAGE) {
                    averaged += block.getParameters().get(r.name()).getArray().size() * 4;
                }
            }
            assertThat(ema.parameters().stream().filter(r -> r.rule() == ParameterRule.AVERAGE).map(ParameterReport::name))
                    .containsExactlyInAnyOrderElementsOf(List.of("07Linear_weight", "07Linear_bias"));
            assertThat(ema.status().shadowBytes()).isEqualTo(averaged).isLessThan(all / 10);
        }
    }

    @Test
    void aModelNinetyPercentFrozenHoldsShadowsForTheOtherTenPercentOnly() {
        try (NDManager manager = Engine.getEngine("PyTorch").newBaseManager()) {
            // 8 -> 100 with bias: 900 parameters, frozen; 100 -> 1 without bias: 100 parameters, trained
            SequentialBlock block = new SequentialBlock()
                    .add(Linear.builder().setUnits(100).build())
                    .add(Linear.builder().setUnits(1).optBias(false).build());
            block.initialize(manager, DataType.FLOAT32, new Shape(1, 8));
            block.getChildren().get(0).getValue().freezeParameters(true);
            long modelBytes = 0;
            for (Pair<String, Parameter> p : block.getParameters()) {
                modelBytes += p.getValue().getArray().size() * 4;
            }
            EmaModel ema = EmaModel.track(block, Preset.SHORT.schedule());
            assertThat(modelBytes).isEqualTo(4_000);
            assertThat(ema.status().averagedParameters()).isEqualTo(1);
            assertThat(ema.status().copiedParameters()).isEqualTo(2);
            // the frozen 90% are read from the live model, never duplicated: 400 bytes, not 4,000
            assertThat(ema.status().shadowBytes()).isEqualTo(400);
        }
    }
}
