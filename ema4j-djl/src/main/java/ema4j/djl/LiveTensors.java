package ema4j.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ema4j.core.LiveWeights;
import ema4j.core.WeightFormat;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * The live memory of a list of DJL parameters, as {@link LiveWeights} for the core's host shadows
 * ({@link HostShadows}).
 *
 * <p>On a CPU tensor with contiguous memory, DJL's PyTorch engine returns a buffer over the tensor's own memory from
 * {@code toByteBuffer(true)}: reads see the optimizer's latest values and writes change the tensor, with no copy.
 * Whether that holds is probed once per parameter when tracking starts. Elsewhere (a GPU model whose shadows were put
 * in host memory, a non-contiguous tensor) the values are copied out for each pass and, after a pass that writes,
 * copied back with an indexed set, which keeps the NDArray object the trainer holds. Buffers are fetched afresh for every pass and never outlive it, so a closed
 * NDArray is never touched: it is refused with an error instead. Keeping them between passes would save a few
 * native calls per tensor, but {@code NDArray.set(Buffer)} gives the same native tensor other memory under the same
 * NDArray and handle, so no cheap check could tell that a kept buffer is stale ({@code LiveTensorsTest}).
 */
final class LiveTensors implements LiveWeights {
    private final List<Parameter> parameters;
    private final boolean[] zeroCopy;
    private final ByteBuffer[] copies;

    LiveTensors(List<Parameter> parameters, boolean allowZeroCopy) {
        this.parameters = List.copyOf(parameters);
        this.zeroCopy = new boolean[parameters.size()];
        this.copies = new ByteBuffer[parameters.size()];
        for (int i = 0; i < zeroCopy.length; i++) {
            zeroCopy[i] = allowZeroCopy && probeZeroCopy(array(i));
        }
    }

    @Override
    public ByteBuffer buffer(int index) {
        NDArray array = array(index);
        if (zeroCopy[index]) {
            return array.toByteBuffer(true).order(ByteOrder.nativeOrder());
        }
        ByteBuffer copy = array.toByteBuffer(false).order(ByteOrder.nativeOrder());
        copies[index] = copy;
        return copy;
    }

    /** Copies back what a writing pass changed in tensors without zero-copy access. */
    void writeBack() {
        for (int i = 0; i < copies.length; i++) {
            if (copies[i] != null) {
                NDArray array = array(i);
                try (NDArray values = array.getManager().create(copies[i].rewind(), array.getShape(),
                        array.getDataType())) {
                    array.set(new NDIndex("..."), values);
                }
                copies[i] = null;
            }
        }
    }

    /** Forgets the copies of a pass that only read. */
    void discardCopies() {
        java.util.Arrays.fill(copies, null);
    }

    /** Whether every tensor is reached without copying. */
    boolean allZeroCopy() {
        for (boolean z : zeroCopy) {
            if (!z) {
                return false;
            }
        }
        return true;
    }

    private NDArray array(int index) {
        return liveArray(parameters.get(index));
    }

    /** The parameter's array, refused with an error when it was closed or never made. */
    static NDArray liveArray(Parameter parameter) {
        NDArray array = parameter.getArray();
        if (array == null || array.isReleased()) {
            throw new IllegalStateException("parameter " + parameter.getName() + " has no live array (closed or"
                    + " never initialized); the model was closed or re-initialized after tracking started");
        }
        return array;
    }

    /** Flips one byte through one view and looks for it through a second: only shared memory shows it. */
    private static boolean probeZeroCopy(NDArray array) {
        if (array.getDevice().isGpu() || array.size() == 0) {
            return array.size() == 0;
        }
        ByteBuffer first = array.toByteBuffer(true);
        if (!first.isDirect()) {
            return false;
        }
        byte original = first.get(0);
        first.put(0, (byte) (original ^ 1));
        boolean shared = array.toByteBuffer(true).get(0) == (byte) (original ^ 1);
        first.put(0, original);
        return shared;
    }

    static WeightFormat formatOf(Parameter parameter) {
        DataType type = parameter.getArray().getDataType();
        return switch (type) {
            case FLOAT32 -> WeightFormat.FLOAT32;
            case FLOAT64 -> WeightFormat.FLOAT64;
            case FLOAT16 -> WeightFormat.FLOAT16;
            case BFLOAT16 -> WeightFormat.BFLOAT16;
            default -> throw new IllegalArgumentException("dtype of parameter " + parameter.getName()
                    + " must be float16, bfloat16, float32 or float64 to be averaged, was " + type
                    + "; copy it instead with ParameterPolicy.builder().copy(\"" + parameter.getName() + "\")");
        };
    }
}
