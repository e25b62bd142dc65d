package ema4j.djl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Block;
import ai.djl.nn.SequentialBlock;
import ai.djl.nn.core.Linear;
import ai.djl.training.EasyTrain;
import ai.djl.training.dataset.Batch;
import ema4j.core.EmaSnapshot;
import ema4j.core.NonFinitePolicy;
import ema4j.core.NonFiniteWeightsException;
import ema4j.core.UpdateResult;
import ema4j.core.schedule.DecaySchedule;
import ema4j.core.schedule.Preset;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/**
 * Shadows on the model's device, averaged with NDArray arithmetic: the path of GPU models, run here on the CPU
 * device. It must agree with the host kernel to within float32 rounding and keep every promise the host path keeps.
 */
class DeviceShadowsTest {
    private static final UnaryOperator<EmaModel.Builder> ON_DEVICE = b -> b.shadowPlacement(
            ShadowPlacement.MODEL_DEVICE);

    /** Trains {@code net} for {@code epochs}, updating {@code ema} after every optimizer step. */
    private static void train(SmallNet net, EmaModel ema, int epochs) throws Exception {
        for (int epoch = 0; epoch < epochs; epoch++) {
            for (Batch batch : net.trainer.iterateDataset(net.train)) {
                try (batch) {
                    EasyTrain.trainBatch(net.trainer, batch);
                    net.trainer.step();
                    ema.step();
                }
            }
        }
    }

    private static float[][] shadows(EmaModel ema) {
        EmaSnapshot snapshot = ema.snapshot();
        float[][] values = new float[Shadows.names(ema).size()][];
        for (int i = 0; i < values.length; i++) {
            FloatBuffer bytes = snapshot.shadow(Shadows.names(ema).get(i)).asFloatBuffer();
            values[i] = new float[bytes.remaining()];
            bytes.get(values[i]);
        }
        return values;
    }

    private static float[][] trained(long seed, UnaryOperator<EmaModel.Builder> options, int epochs)
            throws Exception {
        try (SmallNet net = new SmallNet(seed)) {
            EmaModel ema = options.apply(EmaModel.builder(Preset.SHORT.schedule())).track(net.model.getBlock());
            train(net, ema, epochs);
            return shadows(ema);
        }
    }

    @Test
    void placementIsTheHostForCpuModelsUnlessTheDeviceIsAskedFor() {
        try (SmallNet net = new SmallNet(61)) {
            Block block = net.model.getBlock();
            assertThat(EmaModel.track(block, Preset.SHORT.schedule()).placement()).isEqualTo(ShadowPlacement.HOST);
            EmaModel onDevice = ON_DEVICE.apply(EmaModel.builder(Preset.SHORT.schedule())).track(block);
            assertThat(onDevice.placement()).isEqualTo(ShadowPlacement.MODEL_DEVICE);
            assertThatThrownBy(() -> EmaModel.builder(Preset.SHORT.schedule()).shadowPlacement(null))
                    .hasMessage("shadowPlacement must be non-null, was null");
        }
    }

    @Test
    void theDeviceArithmeticAgreesWithTheHostKernelToFloat32Rounding() throws Exception {
        float[][] host = trained(63, UnaryOperator.identity(), 3);
        float[][] device = trained(63, ON_DEVICE, 3);
        float[][] live;
        try (SmallNet net = new SmallNet(63)) {
            EmaModel ema = EmaModel.track(net.model.getBlock(), Preset.SHORT.schedule());
            train(net, ema, 3);
            live = new float[][] {net.values("01Conv2d_weight")};
        }
        assertThat(device).hasSameDimensionsAs(host);
        for (int t = 0; t < host.length; t++) {
            for (int i = 0; i < host[t].length; i++) {
                // 24 updates, each rounded twice on the device and once (fused) on the host
                assertThat(device[t][i]).isCloseTo(host[t][i], within(32 * Math.ulp(Math.max(1f, host[t][i]))));
            }
        }
        // the EMA moved away from the live weights: the comparison is of averages, not of copies
        assertThat(host[0]).isNotEqualTo(live[0]);
    }

    @Test
    void theFirstTwoUpdatesCopyTheWeightsExactly() throws Exception {
        try (SmallNet net = new SmallNet(65)) {
            // a warmup schedule: decay 0 for the first two updates
            EmaModel ema = ON_DEVICE.apply(EmaModel.builder(DecaySchedule.warmup().power(0.75).build()))
                    .track(net.model.getBlock());
            int updates = 0;
            for (Batch batch : net.trainer.iterateDataset(net.train)) {
                try (batch) {
                    EasyTrain.trainBatch(net.trainer, batch);
                    net.trainer.step();
                    assertThat(ema.step().decay()).isZero();
                    if (++updates == 2) {
                        break;
                    }
                }
            }
            assertThat(shadows(ema)[0]).containsExactly(net.values("01Conv2d_weight"));
        }
    }

    @Test
    void swappingShowsTheShadowAndGivesTheLiveWeightsBackBitExactly() throws Exception {
        try (SmallNet net = new SmallNet(69)) {
            EmaModel ema = ON_DEVICE.apply(EmaModel.builder(Preset.SHORT.schedule())).track(net.model.getBlock());
            train(net, ema, 1);
            float[] live = net.values("01Conv2d_weight");
            float[] shadow = shadows(ema)[0];
            assertThat(shadow).isNotEqualTo(live);
            try (EmaModel.Swap swap = ema.swapIn()) {
                assertThat(net.values("01Conv2d_weight")).containsExactly(shadow);
                assertThatThrownBy(ema::step).isInstanceOf(IllegalStateException.class);
            }
            assertThat(net.values("01Conv2d_weight")).containsExactly(live);
            assertThat(shadows(ema)[0]).containsExactly(shadow);
        }
    }

    @Test
    void emaWeightsAreReadInEitherByteOrderFromEitherPlace() throws Exception {
        for (ShadowPlacement placement : new ShadowPlacement[] {ShadowPlacement.HOST, ShadowPlacement.MODEL_DEVICE}) {
            try (SmallNet net = new SmallNet(87)) {
                EmaModel ema = EmaModel.builder(Preset.SHORT.schedule()).shadowPlacement(placement)
                        .track(net.model.getBlock());
                train(net, ema, 1);
                for (ParameterReport p : ema.parameters()) {
                    int n = Math.toIntExact(net.model.getBlock().getParameters().get(p.name()).getArray().size());
                    ByteBuffer little = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
                    ByteBuffer big = ByteBuffer.allocate(4 * n).order(ByteOrder.BIG_ENDIAN);
                    ema.readEmaWeight(p.name(), little);
                    ema.readEmaWeight(p.name(), big);
                    for (int i = 0; i < n; i++) {
                        assertThat(big.getFloat(4 * i)).isEqualTo(little.getFloat(4 * i));
                    }
                    if (p.rule() == ema4j.core.policy.ParameterRule.COPY) {
                        float[] live = net.values(p.name());
                        for (int i = 0; i < n; i++) {
                            assertThat(big.getFloat(4 * i)).isEqualTo(live[i]);
                        }
                    }
                }
            }
        }
    }

    @Test
    void statusAndDriftMatchTheHostPath() throws Exception {
        try (SmallNet net = new SmallNet(71)) {
            Block block = net.model.getBlock();
            EmaModel host = EmaModel.track(block, Preset.SHORT.schedule());
            EmaModel device = ON_DEVICE.apply(EmaModel.builder(Preset.SHORT.schedule())).track(block);
            for (Batch batch : net.trainer.iterateDataset(net.train)) {
                try (batch) {
                    EasyTrain.trainBatch(net.trainer, batch);
                    net.trainer.step();
                    host.step();
                    device.step();
                }
            }
            assertThat(device.status().shadowBytes()).isEqualTo(host.status().shadowBytes()).isPositive();
            assertThat(device.status().updates()).isEqualTo(host.status().updates()).isEqualTo(8);
            assertThat(device.status().lastDecay()).isEqualTo(host.status().lastDecay());
            assertThat(device.drift()).isPositive().isCloseTo(host.drift(), within(1e-5));
        }
    }

    /** Sets element {@code index} of the first averaged weight to {@code value}, in place. */
    private static void poison(Block block, String name, int index, float value) {
        NDArray w = block.getParameters().get(name).getArray();
        float[] values = w.toFloatArray();
        values[index] = value;
        try (NDArray next = w.getManager().create(values, w.getShape())) {
            w.muli(0).addi(next);
        }
    }

    @Test
    void aNonFiniteWeightFailsTheUpdateAndLeavesEveryShadowAsItWas() throws Exception {
        for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY}) {
            try (SmallNet net = new SmallNet(73)) {
                Block block = net.model.getBlock();
                EmaModel ema = ON_DEVICE.apply(EmaModel.builder(DecaySchedule.constant(0.9)))
                        .track(block);
                train(net, ema, 1);
                float[][] before = shadows(ema);
                poison(block, "05Linear_weight", 37, bad);
                assertThatThrownBy(ema::step).isInstanceOfSatisfying(NonFiniteWeightsException.class, e -> {
                    assertThat(e.parameter()).isEqualTo("05Linear_weight");
                    assertThat(e.element()).isEqualTo(37);
                    assertThat(e.update()).isEqualTo(9);
                });
                assertThat(shadows(ema)).isDeepEqualTo(before);
            }
        }
    }

    @Test
    void underSkipANonFiniteWeightIsCountedAndTheShadowsKept() throws Exception {
        try (SmallNet net = new SmallNet(75)) {
            Block block = net.model.getBlock();
            EmaModel ema = ON_DEVICE.apply(EmaModel.builder(DecaySchedule.constant(0.9))
                    .nonFinite(NonFinitePolicy.SKIP)).track(block);
            train(net, ema, 1);
            float[][] before = shadows(ema);
            poison(block, "07Linear_bias", 2, Float.NaN);
            poison(block, "05Linear_weight", 5, Float.POSITIVE_INFINITY);
            UpdateResult result = ema.step();
            assertThat(result.applied()).isFalse();
            // the first averaged tensor in the block's order with a bad weight
            assertThat(result.nonFiniteParameter()).isEqualTo("05Linear_weight");
            assertThat(result.nonFiniteElement()).isEqualTo(5);
            assertThat(ema.status().skippedUpdates()).isEqualTo(1);
            assertThat(ema.status().updates()).isEqualTo(8);
            assertThat(shadows(ema)).isDeepEqualTo(before);
        }
    }

    @Test
    void finiteWeightsWhoseSumOverflowsAreAveraged() throws Exception {
        try (SmallNet net = new SmallNet(85)) {
            Block block = net.model.getBlock();
            EmaModel ema = ON_DEVICE.apply(EmaModel.builder(DecaySchedule.constant(0.5))).track(block);
            poison(block, "05Linear_weight", 1, 3e38f);
            poison(block, "05Linear_weight", 2, 3e38f);
            assertThat(ema.step().applied()).isTrue();
            float[] shadow = shadows(ema)[averagedIndex(ema, "05Linear_weight")];
            assertThat(shadow[1]).isEqualTo(shadow[2]).isGreaterThan(1e38f).isFinite();
        }
    }

    private static int averagedIndex(EmaModel ema, String name) {
        for (int i = 0; i < Shadows.names(ema).size(); i++) {
            if (Shadows.names(ema).get(i).equals(name)) {
                return i;
            }
        }
        throw new IllegalArgumentException("name must be an averaged tensor, was " + name);
    }

    @Test
    void float16AndFloat64WeightsGetFloat32AndFloat64ShadowsThatSwapBackExactly() {
        for (DataType type : new DataType[] {DataType.FLOAT16, DataType.FLOAT64}) {
            try (NDManager manager = NDManager.newBaseManager()) {
                SequentialBlock block = new SequentialBlock().add(Linear.builder().setUnits(5).build());
                block.initialize(manager, type, new Shape(1, 11));
                EmaModel host = EmaModel.builder(DecaySchedule.constant(0.8)).track(block);
                EmaModel device = ON_DEVICE.apply(EmaModel.builder(DecaySchedule.constant(0.8))).track(block);
                Random random = new Random(77);
                for (int n = 0; n < 6; n++) {
                    for (var p : block.getParameters()) {
                        NDArray w = p.getValue().getArray();
                        float[] values = new float[Math.toIntExact(w.size())];
                        for (int i = 0; i < values.length; i++) {
                            values[i] = (float) random.nextGaussian();
                        }
                        try (NDArray next = manager.create(values, w.getShape()).toType(type, false)) {
                            w.muli(0).addi(next);
                        }
                    }
                    host.step();
                    device.step();
                }
                double[] hostShadow = Shadows.of(host, 0);
                int width = type == DataType.FLOAT64 ? 8 : 4;
                String name = Shadows.names(host).get(0);
                assertThat(host.snapshot().shadow(name).remaining()).isEqualTo(hostShadow.length * width);
                ByteBuffer exact = device.snapshot().shadow(name);
                assertThat(exact.remaining()).isEqualTo(hostShadow.length * width);
                for (int i = 0; i < hostShadow.length; i++) {
                    double d = width == 8 ? exact.getDouble(8 * i) : exact.getFloat(4 * i);
                    assertThat(d).isCloseTo(hostShadow[i], within(1e-6 * Math.max(1, Math.abs(hostShadow[i]))));
                }
                NDArray weight = block.getParameters().get(0).getValue().getArray();
                List<Double> live = widened(weight);
                try (EmaModel.Swap swap = device.swapIn()) {
                    List<Double> swapped = widened(weight);
                    for (int i = 0; i < hostShadow.length; i++) {
                        // the shadow rounded to the live format: float16 keeps 11 significant bits
                        double tolerance = type == DataType.FLOAT16 ? Math.abs(hostShadow[i]) * 0x1p-10 + 1e-6 : 1e-9;
                        assertThat(swapped.get(i)).isCloseTo(hostShadow[i], within(tolerance));
                    }
                }
                assertThat(widened(weight)).containsExactlyElementsOf(live);
            }
        }
    }

    private static List<Double> widened(NDArray array) {
        List<Double> values = new ArrayList<>();
        if (array.getDataType() == DataType.FLOAT64) {
            for (double v : array.toDoubleArray()) {
                values.add(v);
            }
        } else {
            try (NDArray wide = array.toType(DataType.FLOAT32, false)) {
                for (float v : wide.toFloatArray()) {
                    values.add((double) v);
                }
            }
        }
        return values;
    }

    @Test
    void updatesFreeTheirTemporaries() throws Exception {
        try (SmallNet net = new SmallNet(79)) {
            EmaModel ema = ON_DEVICE.apply(EmaModel.builder(Preset.SHORT.schedule())).track(net.model.getBlock());
            train(net, ema, 1);
            int held = net.model.getNDManager().getManagedArrays().size();
            train(net, ema, 2);
            ema.drift();
            try (EmaModel.Swap swap = ema.swapIn()) {
                assertThat(swap).isNotNull();
            }
            // what the trainer holds may vary by a few arrays per batch; the EMA adds none per update
            assertThat(net.model.getNDManager().getManagedArrays().size()).isLessThanOrEqualTo(held);
        }
    }

    @Test
    void aClosedModelIsRefusedWithAnError() {
        SmallNet net = new SmallNet(81);
        EmaModel ema = ON_DEVICE.apply(EmaModel.builder(Preset.SHORT.schedule())).track(net.model.getBlock());
        net.close();
        assertThatThrownBy(ema::step).isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }

    @Test
    void closingTheEmaFreesTheDeviceShadows() {
        try (SmallNet net = new SmallNet(83)) {
            NDManager modelManager = net.model.getNDManager();
            int before = modelManager.getManagedArrays().size();
            EmaModel ema = ON_DEVICE.apply(EmaModel.builder(Preset.SHORT.schedule())).track(net.model.getBlock());
            assertThat(modelManager.getManagedArrays().size()).isGreaterThan(before);
            ema.close();
            assertThat(modelManager.getManagedArrays().size()).isEqualTo(before);
        }
    }

    @Test
    void aSnapshotMovesAnEmaBetweenDeviceAndHostBitForBit() throws Exception {
        try (SmallNet net = new SmallNet(85)) {
            Block block = net.model.getBlock();
            EmaModel device = ON_DEVICE.apply(EmaModel.builder(Preset.SHORT.schedule())).track(block);
            train(net, device, 1);
            EmaSnapshot saved = device.snapshot();
            EmaModel onHost = EmaModel.builder(Preset.SHORT.schedule()).resume(block, saved);
            EmaModel backOnDevice = ON_DEVICE.apply(EmaModel.builder(Preset.SHORT.schedule())).resume(block, saved);
            assertThat(onHost.placement()).isEqualTo(ShadowPlacement.HOST);
            assertThat(backOnDevice.placement()).isEqualTo(ShadowPlacement.MODEL_DEVICE);
            assertThat(onHost.snapshot()).isEqualTo(saved);
            assertThat(backOnDevice.snapshot()).isEqualTo(saved);
            assertThat(backOnDevice.status().updates()).isEqualTo(device.status().updates());
            assertThatThrownBy(() -> ON_DEVICE.apply(EmaModel.builder(Preset.LONG.schedule())).resume(block, saved))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("schedule must be the snapshot's");
            backOnDevice.close();
            device.close();
        }
    }
}
