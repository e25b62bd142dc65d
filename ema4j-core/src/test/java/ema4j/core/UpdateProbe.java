package ema4j.core;

import ema4j.core.schedule.DecaySchedule;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A fixed EMA computation whose result any JVM can print: {@link NewerJdkTest} runs it on another JDK and compares
 * with this one. Prints the kernels available and a hash of every shadow bit.
 */
final class UpdateProbe {
    private UpdateProbe() {}

    /** The kernel used and the hash of the shadows after the probe's updates, one line. */
    static String run() {
        SplittableRandom random = new SplittableRandom(11);
        List<TensorSpec> specs = new ArrayList<>();
        List<ByteBuffer> buffers = new ArrayList<>();
        for (int size : new int[] {1, 255, 256, 257, 4099, 70_001, 1000}) {
            specs.add(new TensorSpec("t" + size, new long[] {size}, WeightFormat.FLOAT32));
            // the last tensor starts 4 bytes past a 64-byte boundary: the kernels read it after a scalar head
            ByteBuffer whole = ByteBuffer.allocateDirect(4 * size + 128);
            int start = (64 - whole.alignmentOffset(0, 64)) % 64 + (size == 1000 ? 4 : 0);
            ByteBuffer b = whole.position(start).limit(start + 4 * size).slice().order(ByteOrder.nativeOrder());
            for (int i = 0; i < size; i++) {
                b.putFloat(4 * i, (float) random.nextGaussian());
            }
            buffers.add(b);
        }
        buffers.get(5).putFloat(4 * 500, -Float.MAX_VALUE);
        LiveWeights live = buffers::get;
        EmaState ema = EmaState.builder(DecaySchedule.constant(0.9)).nonFinite(NonFinitePolicy.SKIP).threads(2)
                .start(specs, live);
        for (int step = 0; step < 3; step++) {
            for (ByteBuffer b : buffers) {
                for (int i = 0; i < b.capacity() / 4; i++) {
                    b.putFloat(4 * i, b.getFloat(4 * i) * 0.5f + (float) random.nextGaussian());
                }
            }
            if (step == 0) {
                buffers.get(5).putFloat(4 * 500, Float.MAX_VALUE);   // finite, but w - e overflows: still averaged
            }
            if (step == 1) {
                buffers.get(4).putFloat(4 * 3000, Float.NaN);   // a skipped update must leave everything as it was
            }
            ema.update(live);
            buffers.get(4).putFloat(4 * 3000, 0.25f);
        }
        long hash = 17;
        for (int i = 0; i < specs.size(); i++) {
            ByteBuffer out = ByteBuffer.allocate(4 * (int) specs.get(i).elementCount()).order(ByteOrder.nativeOrder());
            ema.writeShadow(specs.get(i).name(), out);
            hash = 31 * hash + Arrays.hashCode(out.array());
        }
        ema.close();
        return "vector kernel " + VectorKernels.AVAILABLE
                + ", updates " + ema.updates() + ", skipped " + ema.skippedUpdates() + ", shadow hash "
                + Long.toHexString(hash);
    }

    /** A line of {@link #run()} without the kernels it names: what every kernel must print alike. */
    static String bits(String probeLine) {
        return probeLine.replaceFirst("vector kernel \\w+", "");
    }

    public static void main(String[] args) {
        System.out.println(run());
    }
}
