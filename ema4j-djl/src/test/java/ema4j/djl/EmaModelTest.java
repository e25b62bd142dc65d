package ema4j.djl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ai.djl.Model;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.training.EasyTrain;
import ai.djl.training.ParameterStore;
import ai.djl.training.dataset.Batch;
import ai.djl.util.Pair;
import ema4j.core.NonFinitePolicy;
import ema4j.core.NonFiniteWeightsException;
import ema4j.core.UpdateResult;
import ema4j.core.policy.ParameterPolicy;
import ema4j.core.policy.ParameterRule;
import ema4j.core.schedule.DecaySchedule;
import ema4j.core.schedule.Preset;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EmaModelTest {

    private static void trainOneEpoch(SmallNet net, EmaModel ema) throws Exception {
        for (Batch batch : net.trainer.iterateDataset(net.train)) {
            try (batch) {
                EasyTrain.trainBatch(net.trainer, batch);
                net.trainer.step();
                if (ema != null) {
                    ema.step();
                }
            }
        }
    }

    private static Map<String, float[]> snapshot(Block block) {
        Map<String, float[]> values = new HashMap<>();
        for (Pair<String, Parameter> p : block.getParameters()) {
            values.put(p.getKey(), p.getValue().getArray().toFloatArray());
        }
        return values;
    }

    @Test
    void batchNormAndFrozenParametersAreCopiedAndTheRestAveragedAgainstAFloat64Reference() throws Exception {
        try (SmallNet net = new SmallNet(7, true, (c, optimizer) -> c)) {
            Block block = net.model.getBlock();
            EmaModel ema = EmaModel.builder(DecaySchedule.warmup().power(0.75).maxDecay(0.9).build())
                    .optimizerSteps(net.optimizer::steps).track(block);
            Map<String, ParameterRule> rules = ema.parameters().stream()
                    .collect(Collectors.toMap(ParameterReport::name, ParameterReport::rule));
            assertThat(rules).containsEntry("01Conv2d_weight", ParameterRule.AVERAGE)
                    .containsEntry("05Linear_weight", ParameterRule.AVERAGE)
                    .containsEntry("02BatchNorm_gamma", ParameterRule.COPY)
                    .containsEntry("02BatchNorm_beta", ParameterRule.COPY)
                    .containsEntry("02BatchNorm_runningMean", ParameterRule.COPY)
                    .containsEntry("02BatchNorm_runningVar", ParameterRule.COPY)
                    .containsEntry("07Linear_weight", ParameterRule.COPY)
                    .containsEntry("07Linear_bias", ParameterRule.COPY);
            assertThat(ema.describeParameters()).contains("07Linear_weight").contains("frozen");

            List<String> averaged = List.of("01Conv2d_weight", "01Conv2d_bias", "05Linear_weight", "05Linear_bias");
            Map<String, double[]> reference = new HashMap<>();
            for (String name : averaged) {
                float[] w = net.values(name);
                double[] r = new double[w.length];
                for (int i = 0; i < w.length; i++) {
                    r[i] = w[i];
                }
                reference.put(name, r);
            }
            float[] frozenBefore = net.values("07Linear_weight");
            int updates = 0;
            for (Batch batch : net.trainer.iterateDataset(net.train)) {
                try (batch) {
                    EasyTrain.trainBatch(net.trainer, batch);
                    net.trainer.step();
                    UpdateResult result = ema.step();
                    // diffusion_policy's EMAModel warmup for the update after `updates` earlier ones: the first two copy
                    long step = Math.max(0, updates - 1);
                    double decay = step == 0 ? 0 : Math.min(0.9, 1 - Math.pow(1 + step, -0.75));
                    assertThat(result.decay()).isCloseTo(decay, within(1e-15));
                    updates++;
                    for (String name : averaged) {
                        float[] w = net.values(name);
                        double[] r = reference.get(name);
                        for (int i = 0; i < w.length; i++) {
                            r[i] = decay * r[i] + (1 - decay) * w[i];
                        }
                    }
                }
            }
            assertThat(ema.status().updates()).isEqualTo(8).isEqualTo(net.optimizer.steps());
            assertThat(net.values("07Linear_weight")).containsExactly(frozenBefore);
            try (Model averagedModel = ema.averagedModel("ema", SmallNet::block)) {
                Block ab = averagedModel.getBlock();
                for (String name : averaged) {
                    float[] actual = ab.getParameters().get(name).getArray().toFloatArray();
                    double[] r = reference.get(name);
                    for (int i = 0; i < r.length; i++) {
                        assertThat((double) actual[i]).as(name).isCloseTo(r[i], within(1e-5 * (1 + Math.abs(r[i]))));
                    }
                }
                for (String name : List.of("02BatchNorm_gamma", "02BatchNorm_beta", "02BatchNorm_runningMean",
                        "02BatchNorm_runningVar", "07Linear_weight", "07Linear_bias")) {
                    assertThat(ab.getParameters().get(name).getArray().toFloatArray()).as(name)
                            .containsExactly(net.values(name));
                }
            }
            long averagedBytes = 4L * averaged.stream().mapToLong(n -> net.values(n).length).sum();
            assertThat(ema.status().shadowBytes()).isEqualTo(averagedBytes);
        }
    }

    @Test
    void averagingBatchNormAffineParametersIsAnOption() {
        try (SmallNet net = new SmallNet(3)) {
            EmaModel ema = EmaModel.builder(Preset.SHORT.schedule())
                    .policy(ParameterPolicy.builder().batchNorm(ParameterPolicy.BatchNormRule.AVERAGE_AFFINE).build())
                    .track(net.model.getBlock());
            Map<String, ParameterRule> rules = ema.parameters().stream()
                    .collect(Collectors.toMap(ParameterReport::name, ParameterReport::rule));
            assertThat(rules.get("02BatchNorm_gamma")).isEqualTo(ParameterRule.AVERAGE);
            assertThat(rules.get("02BatchNorm_runningMean")).isEqualTo(ParameterRule.COPY);
        }
    }

    @Test
    void theOptimizerUpdatesParametersInPlaceSoTheZeroCopyViewSeesTheStep() throws Exception {
        try (SmallNet net = new SmallNet(5)) {
            Parameter weight = net.model.getBlock().getParameters().get("05Linear_weight");
            NDArray before = weight.getArray();
            FloatBuffer view = before.toByteBuffer(true).order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer();
            float first = view.get(0);
            trainOneEpoch(net, null);
            assertThat(weight.getArray()).isSameAs(before);
            assertThat(view.get(0)).isEqualTo(weight.getArray().toFloatArray()[0]).isNotEqualTo(first);
        }
    }

    @Test
    void swappingRestoresTheLiveWeightsBitExactly() throws Exception {
        try (SmallNet net = new SmallNet(11)) {
            Block block = net.model.getBlock();
            EmaModel ema = EmaModel.track(block, Preset.LONG.schedule());
            trainOneEpoch(net, ema);
            Map<String, float[]> live = snapshot(block);
            double[] shadow = Shadows.of(ema, 0);
            try (EmaModel.Swap swap = ema.swapIn()) {
                float[] swapped = net.values("01Conv2d_weight");
                for (int i = 0; i < swapped.length; i++) {
                    assertThat((double) swapped[i]).isEqualTo(shadow[i]);
                }
                assertThatThrownBy(ema::step).isInstanceOf(IllegalStateException.class);
                assertThatThrownBy(() -> ema.swapIn()).isInstanceOf(IllegalStateException.class);
            }
            Map<String, float[]> back = snapshot(block);
            live.forEach((name, values) -> assertThat(back.get(name)).as(name).containsExactly(values));
        }
    }

    @Test
    void trainingWithSwapsEndsBitIdenticalToTrainingWithout() throws Exception {
        Map<String, float[]> plain;
        double[] plainShadow;
        try (SmallNet net = new SmallNet(21)) {
            EmaModel ema = EmaModel.track(net.model.getBlock(), Preset.SHORT.schedule());
            for (int epoch = 0; epoch < 3; epoch++) {
                trainOneEpoch(net, ema);
            }
            plain = snapshot(net.model.getBlock());
            plainShadow = Shadows.of(ema, 2);
        }
        try (SmallNet net = new SmallNet(21)) {
            EmaModel ema = EmaModel.track(net.model.getBlock(), Preset.SHORT.schedule());
            for (int epoch = 0; epoch < 3; epoch++) {
                trainOneEpoch(net, ema);
                try (EmaModel.Swap swap = ema.swapIn()) {
                    Evaluation.of(net.trainer, net.validation);
                }
            }
            Map<String, float[]> swapped = snapshot(net.model.getBlock());
            plain.forEach((name, values) -> assertThat(swapped.get(name)).as(name).containsExactly(values));
            assertThat(Shadows.of(ema, 2)).containsExactly(plainShadow);
        }
    }

    @Test
    void theAveragedModelSavedWithDjlLoadsIntoAFreshModelWithIdenticalOutputs(@TempDir Path dir) throws Exception {
        try (SmallNet net = new SmallNet(13)) {
            EmaModel ema = EmaModel.track(net.model.getBlock(), Preset.SHORT.schedule());
            trainOneEpoch(net, ema);
            trainOneEpoch(net, ema);
            try (Model averaged = ema.averagedModel("fmnist-ema", SmallNet::block);
                    Model loaded = Model.newInstance("fmnist-ema");
                    NDManager manager = NDManager.newBaseManager()) {
                averaged.save(dir, "fmnist-ema");
                loaded.setBlock(SmallNet.block());
                loaded.load(dir, "fmnist-ema");
                NDList input = new NDList(manager.randomNormal(new ai.djl.ndarray.types.Shape(4, 1, 8, 8)));
                float[] expected = averaged.getBlock().forward(new ParameterStore(manager, false), input, false)
                        .singletonOrThrow().toFloatArray();
                float[] actual = loaded.getBlock().forward(new ParameterStore(manager, false), input, false)
                        .singletonOrThrow().toFloatArray();
                assertThat(actual).containsExactly(expected);
                float[] live = net.model.getBlock().forward(new ParameterStore(manager, false), input, false)
                        .singletonOrThrow().toFloatArray();
                assertThat(actual).isNotEqualTo(live);
            }
        }
    }

    @Test
    void aNaNInOneWeightLeavesTheEmaUnchangedAndNamesTheParameter() throws Exception {
        try (SmallNet net = new SmallNet(17)) {
            EmaModel ema = EmaModel.track(net.model.getBlock(), DecaySchedule.constant(0.9));
            trainOneEpoch(net, ema);
            double[][] before = new double[4][];
            for (int i = 0; i < 4; i++) {
                before[i] = Shadows.of(ema, i);
            }
            NDArray weight = net.model.getBlock().getParameters().get("05Linear_weight").getArray();
            weight.toByteBuffer(true).order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer().put(5, Float.NaN);
            assertThatThrownBy(ema::step).isInstanceOf(NonFiniteWeightsException.class)
                    .hasMessageStartingWith("weight 05Linear_weight[5] is not finite at EMA update 9;");
            for (int i = 0; i < 4; i++) {
                double[] after = Shadows.of(ema, i);
                for (int k = 0; k < after.length; k++) {
                    assertThat(after[k]).isCloseTo(before[i][k], within(2.0 * Math.ulp((float) before[i][k])));
                }
            }
            assertThat(Shadows.of(ema, 2)).containsExactly(before[2]);
        }
    }

    @Test
    void withSkippingOnTrainingGoesOnAndTheSkipIsCounted() throws Exception {
        try (SmallNet net = new SmallNet(19)) {
            EmaModel ema = EmaModel.builder(DecaySchedule.constant(0.9)).nonFinite(NonFinitePolicy.SKIP)
                    .track(net.model.getBlock());
            NDArray bias = net.model.getBlock().getParameters().get("01Conv2d_bias").getArray();
            FloatBuffer view = bias.toByteBuffer(true).order(java.nio.ByteOrder.nativeOrder()).asFloatBuffer();
            float kept = view.get(0);
            view.put(0, Float.POSITIVE_INFINITY);
            UpdateResult skipped = ema.step();
            assertThat(skipped.applied()).isFalse();
            assertThat(skipped.nonFiniteParameter()).isEqualTo("01Conv2d_bias");
            view.put(0, kept);
            trainOneEpoch(net, ema);
            assertThat(ema.status().skippedUpdates()).isEqualTo(1);
            assertThat(ema.status().updates()).isEqualTo(8);
        }
    }

    @Test
    void exactlyOneUpdatePerOptimizerStepWhateverTheCalls() throws Exception {
        try (SmallNet net = new SmallNet(23)) {
            EmaModel ema = EmaModel.builder(Preset.SHORT.schedule()).optimizerSteps(net.optimizer::steps)
                    .track(net.model.getBlock());
            int call = 0;
            for (Batch batch : net.trainer.iterateDataset(net.train)) {
                try (batch) {
                    EasyTrain.trainBatch(net.trainer, batch);
                    net.trainer.step();
                    call++;
                    if (call % 3 == 0) {
                        continue;              // a missed call: folded into the next update
                    }
                    ema.step();
                    assertThat(ema.step().steps()).isZero();   // a doubled call: ignored
                }
            }
            ema.step();
            assertThat(net.optimizer.steps()).isEqualTo(8);
            assertThat(ema.status().updates()).isEqualTo(8);
        }
    }

    @Test
    void updateEveryKCompoundsTheDecayOfKSteps() throws Exception {
        try (SmallNet net = new SmallNet(29)) {
            EmaModel ema = EmaModel.builder(DecaySchedule.constant(0.9)).updateEvery(4).track(net.model.getBlock());
            trainOneEpoch(net, ema);
            assertThat(ema.status().updates()).isEqualTo(8);
            assertThat(ema.status().lastDecay()).isCloseTo(0.9 * 0.9 * 0.9 * 0.9, within(1e-12));
        }
    }

    @Test
    void aBlockWithOtherParametersIsRefusedWithTheDifferences() {
        try (SmallNet net = new SmallNet(31); Model other = Model.newInstance("other")) {
            EmaModel ema = EmaModel.track(net.model.getBlock(), Preset.SHORT.schedule());
            Block different = new ai.djl.nn.SequentialBlock()
                    .add(ai.djl.nn.convolutional.Conv2d.builder().setKernelShape(new ai.djl.ndarray.types.Shape(3, 3))
                            .setFilters(5).build());
            other.setBlock(different);
            different.initialize(other.getNDManager(), ai.djl.ndarray.types.DataType.FLOAT32, SmallNet.INPUT);
            assertThatThrownBy(() -> ema.checkMatches(different))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("01Conv2d_weight: EMA holds (4, 1, 3, 3) float32, block has (5, 1, 3, 3)")
                    .hasMessageContaining("missing 02BatchNorm_gamma");
        }
    }

    @Test
    void driftAndHorizonAreReadable() throws Exception {
        try (SmallNet net = new SmallNet(37)) {
            EmaModel ema = EmaModel.track(net.model.getBlock(), DecaySchedule.constant(0.75));
            assertThat(ema.drift()).isZero();
            trainOneEpoch(net, ema);
            assertThat(ema.drift()).isGreaterThan(0).isLessThan(1);
            assertThat(ema.status().horizon()).isCloseTo(4, within(1e-9));
        }
    }

    /** One batch: forward, backward, optimizer step, then the EMAs' steps. */
    private static void stepOnce(SmallNet net, EmaModel... emas) throws Exception {
        Batch batch = net.trainer.iterateDataset(net.train).iterator().next();
        try (batch) {
            EasyTrain.trainBatch(net.trainer, batch);
            net.trainer.step();
            for (EmaModel ema : emas) {
                ema.step();
            }
        }
    }

    private static float[] emaWeight(EmaModel ema, String name) {
        float[] values = new float[shapeSize(ema, name)];
        java.nio.ByteBuffer bytes = java.nio.ByteBuffer.allocate(4 * values.length)
                .order(java.nio.ByteOrder.nativeOrder());
        ema.readEmaWeight(name, bytes);
        bytes.asFloatBuffer().get(values);
        return values;
    }

    private static int shapeSize(EmaModel ema, String name) {
        String shape = ema.parameters().stream().filter(r -> r.name().equals(name)).findFirst().orElseThrow().shape();
        int size = 1;
        for (String dim : shape.replaceAll("[()\\s]", "").split(",")) {
            size *= Integer.parseInt(dim);
        }
        return size;
    }

    private static ParameterRule rule(EmaModel ema, String name) {
        return ema.parameters().stream().filter(r -> r.name().equals(name)).findFirst().orElseThrow().rule();
    }

    private static void assertSameValues(Map<String, float[]> actual, Map<String, float[]> expected) {
        assertThat(actual.keySet()).isEqualTo(expected.keySet());
        for (String name : expected.keySet()) {
            assertThat(actual.get(name)).as(name).containsExactly(expected.get(name));
        }
    }

    @Test
    void twoEmasOfOneBlockNeverExchangeWeightsOverEachOther() throws Exception {
        try (SmallNet net = new SmallNet(93)) {
            Block block = net.model.getBlock();
            EmaModel fast = EmaModel.track(block, DecaySchedule.constant(0.5));
            EmaModel slow = EmaModel.track(block, DecaySchedule.constant(0.99));
            for (int i = 0; i < 5; i++) {
                stepOnce(net, fast, slow);
            }
            Map<String, float[]> live = snapshot(block);
            ema4j.core.EmaSnapshot fastSaved = fast.snapshot();
            ema4j.core.EmaSnapshot slowSaved = slow.snapshot();
            EmaModel.Swap fastWeights = fast.swapIn();
            try (fastWeights) {
                assertThatThrownBy(slow::swapIn).isInstanceOf(IllegalStateException.class)
                        .hasMessageStartingWith("the weights of another EMA of this block are swapped into it");
                assertThatThrownBy(slow::step).isInstanceOf(IllegalStateException.class)
                        .hasMessageStartingWith("the weights of another EMA of this block are swapped into it");
                assertThatThrownBy(slow::drift).isInstanceOf(IllegalStateException.class);
                assertThatThrownBy(fast::step).isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("close the swap before step()");
            }
            assertSameValues(snapshot(block), live);
            assertThat(fast.snapshot()).isEqualTo(fastSaved);
            assertThat(slow.snapshot()).isEqualTo(slowSaved);
            float[] slowInBlock = slow.withEmaWeights(() -> {
                assertThatThrownBy(fast::swapIn).isInstanceOf(IllegalStateException.class);
                return net.values("05Linear_weight");
            });
            assertThat(slowInBlock).containsExactly(emaWeight(slow, "05Linear_weight"));
            assertSameValues(snapshot(block), live);
            stepOnce(net, fast, slow);   // both update again once no swap is open
            assertThat(fast.status().updates()).isEqualTo(6);
            assertThat(slow.status().updates()).isEqualTo(6);
        }
    }

    @Test
    void aParameterUnfrozenAfterTrackingIsAveragedFromTheFirstUpdateAfterItTrains() throws Exception {
        try (SmallNet net = new SmallNet(91, true, (c, optimizer) -> c)) {
            Block block = net.model.getBlock();
            EmaModel ema = EmaModel.track(block, DecaySchedule.constant(0.5));
            trainOneEpoch(net, ema);
            assertThat(rule(ema, "07Linear_weight")).isEqualTo(ParameterRule.COPY);
            int shadowsBefore = ema.status().averagedParameters();
            block.getChildren().get(6).getValue().freezeParameters(false);
            stepOnce(net, ema);
            // its shadow starts from its value when the update first sees it train
            float[] first = net.values("07Linear_weight");
            assertThat(rule(ema, "07Linear_weight")).isEqualTo(ParameterRule.AVERAGE);
            assertThat(ema.describeParameters()).containsPattern("07Linear_weight .* average");
            assertThat(ema.status().averagedParameters()).isEqualTo(shadowsBefore + 2);
            assertThat(emaWeight(ema, "07Linear_weight")).containsExactly(first);
            stepOnce(net, ema);
            float[] second = net.values("07Linear_weight");
            assertThat(second).isNotEqualTo(first);
            float[] expected = new float[first.length];
            for (int i = 0; i < expected.length; i++) {
                expected[i] = Math.fma(0.5f, second[i] - first[i], first[i]);
            }
            assertThat(emaWeight(ema, "07Linear_weight")).containsExactly(expected);
            // frozen again: copied from the live model, no shadow
            block.getChildren().get(6).getValue().freezeParameters(true);
            stepOnce(net, ema);
            assertThat(rule(ema, "07Linear_weight")).isEqualTo(ParameterRule.COPY);
            assertThat(ema.status().averagedParameters()).isEqualTo(shadowsBefore);
            assertThat(emaWeight(ema, "07Linear_weight")).containsExactly(net.values("07Linear_weight"));
        }
    }

    @Test
    void closingWhileSwappedPutsTheLiveWeightsBackAndEndsTheEma() throws Exception {
        try (SmallNet net = new SmallNet(95)) {
            Block block = net.model.getBlock();
            EmaModel ema = EmaModel.track(block, DecaySchedule.constant(0.5));
            trainOneEpoch(net, ema);
            Map<String, float[]> live = snapshot(block);
            ema.swapIn();
            ema.close();
            assertSameValues(snapshot(block), live);
            assertThatThrownBy(ema::step).isInstanceOf(IllegalStateException.class).hasMessage("this EMA is closed");
            assertThatThrownBy(ema::swapIn).isInstanceOf(IllegalStateException.class)
                    .hasMessage("this EMA is closed");
            for (org.assertj.core.api.ThrowableAssert.ThrowingCallable call : List.<org.assertj.core.api
                    .ThrowableAssert.ThrowingCallable>of(ema::status, ema::parameters, ema::describeParameters,
                    ema::snapshot, ema::drift, ema::placement, () -> ema.withEmaWeights(() -> null))) {
                assertThatThrownBy(call).isInstanceOf(IllegalStateException.class).hasMessage("this EMA is closed");
            }
            ema.close();
            EmaModel other = EmaModel.track(block, DecaySchedule.constant(0.5));
            other.withEmaWeights(() -> null);   // the closed EMA holds no claim on the block
            other.close();
        }
    }

    @Test
    void closingReleasesEveryUpdateThreadAndThreadsAreBoundByTheMachine() throws Exception {
        int cores = Runtime.getRuntime().availableProcessors();
        assertThatThrownBy(() -> EmaModel.builder(DecaySchedule.constant(0.5)).threads(100_000))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("threads must be in [1, " + cores + "], was 100000");
        java.util.Set<Thread> before = updateThreads();
        java.util.Set<Thread> started = new java.util.HashSet<>();
        try (NDManager manager = NDManager.newBaseManager()) {
            Block block = new ai.djl.nn.SequentialBlock().add(ai.djl.nn.core.Linear.builder().setUnits(200).build());
            // 40,200 parameters: two runs of at least 16,384 elements, so a second thread
            block.initialize(manager, ai.djl.ndarray.types.DataType.FLOAT32, new ai.djl.ndarray.types.Shape(1, 200));
            for (int i = 0; i < 20; i++) {
                EmaModel ema = EmaModel.builder(DecaySchedule.constant(0.5)).threads(Math.min(2, cores)).track(block);
                ema.step();
                ema.step();
                started.addAll(updateThreads());
                ema.close();
            }
        }
        started.removeAll(before);
        if (cores >= 2) {
            assertThat(started).isNotEmpty();
        }
        for (Thread thread : started) {
            thread.join(10_000);
        }
        assertThat(started).noneMatch(Thread::isAlive);
    }

    private static java.util.Set<Thread> updateThreads() {
        java.util.Set<Thread> threads = new java.util.HashSet<>();
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            if (t.getName().equals("ema4j-update") && t.isAlive()) {
                threads.add(t);
            }
        }
        return threads;
    }
}
