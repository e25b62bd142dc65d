package ema4j.io.posthoc;

import static org.assertj.core.api.Assertions.assertThat;

import ema4j.io.safetensors.SafetensorsFile;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/** {@link SnapshotStore#combine} against the weighted sum computed in memory, on random stores. */
class SnapshotCombineTest {

    @Property(tries = 60)
    void combineIsTheWeightedSumOfTheSnapshotsElementByElement(@ForAll @IntRange(min = 1, max = 6) int count,
            @ForAll @IntRange(min = 1, max = 4) int tensorCount, @ForAll long seed) throws IOException {
        Random random = new Random(seed);
        int[] sizes = new int[tensorCount];
        for (int t = 0; t < tensorCount; t++) {
            sizes[t] = random.nextInt(4) == 0 ? 1 : random.nextInt(3000);
        }
        Path dir = Files.createTempDirectory("combine");
        try {
            SnapshotStore store = SnapshotStore.create(dir);
            List<float[][]> values = new ArrayList<>();
            double[] weights = new double[count];
            for (int i = 0; i < count; i++) {
                float[][] snapshot = new float[tensorCount][];
                List<SnapshotStore.Float32Tensor> tensors = new ArrayList<>();
                for (int t = 0; t < tensorCount; t++) {
                    snapshot[t] = new float[sizes[t]];
                    ByteBuffer data = ByteBuffer.allocate(4 * sizes[t]).order(ByteOrder.LITTLE_ENDIAN);
                    for (int k = 0; k < sizes[t]; k++) {
                        snapshot[t][k] = (float) (random.nextGaussian() * Math.pow(10, random.nextInt(7) - 3));
                        data.putFloat(snapshot[t][k]);
                    }
                    tensors.add(new SnapshotStore.Float32Tensor("t" + t, new long[] {sizes[t]}, data.flip(),
                            t % 2 == 0));
                }
                // each file lists its tensors in its own order: combine pairs them by name
                Collections.shuffle(tensors, random);
                store.save(1 + i / 2, 1.0 + i % 2, tensors);
                values.add(snapshot);
                weights[i] = random.nextGaussian() * 3;
            }
            Path out = dir.resolve("combined.safetensors");
            store.combine(store.snapshots(), weights, Map.of(), out);

            try (SafetensorsFile combined = SafetensorsFile.open(out)) {
                for (int t = 0; t < tensorCount; t++) {
                    FloatBufferView actual = new FloatBufferView(combined.read("t" + t));
                    assertThat(actual.size()).isEqualTo(sizes[t]);
                    for (int k = 0; k < sizes[t]; k++) {
                        double sum = 0;
                        for (int i = 0; i < count; i++) {
                            sum += weights[i] * values.get(i)[t][k];
                        }
                        assertThat(actual.get(k)).as("tensor t%d element %d", t, k).isEqualTo((float) sum);
                    }
                }
            }
        } finally {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
    }

    /** Little-endian float32 values of a tensor's bytes. */
    private record FloatBufferView(ByteBuffer bytes) {
        FloatBufferView {
            bytes = bytes.order(ByteOrder.LITTLE_ENDIAN);
        }

        int size() {
            return bytes.remaining() / 4;
        }

        float get(int k) {
            return bytes.getFloat(bytes.position() + 4 * k);
        }
    }
}
