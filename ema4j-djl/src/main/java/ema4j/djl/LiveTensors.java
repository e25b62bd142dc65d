package ema4j.djl;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ai.djl.util.NativeResource;
import ema4j.core.LiveWeights;
import ema4j.core.WeightFormat;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;

/**
 * The live memory of a list of DJL parameters, as {@link LiveWeights} for the core.
 *
 * <p>On a CPU tensor with contiguous memory, DJL's PyTorch engine returns a buffer over the tensor's own memory from
 * {@code toByteBuffer(true)}: reads see the optimizer's latest values and writes change the tensor, with no copy.
 * Whether that holds is probed once per parameter when tracking starts. Elsewhere (a GPU, a non-contiguous tensor)
 * the values are copied out for each pass and, after a pass that writes, copied back with an indexed set, which keeps
 * the NDArray object the trainer holds. Every pass checks first that the parameter's array is open, so a closed
 * NDArray is never touched: it is refused with an error instead.
 *
 * <p>Fetching a zero-copy buffer from DJL takes several native calls per tensor, a few percent of an update's time,
 * so the buffer is fetched again only when the parameter's memory may have changed. DJL gives a tensor other memory
 * in two ways only: the parameter gets another NDArray, or the NDArray gets another native handle object
 * ({@code intern}, which {@code set} with a buffer or a boolean index runs). Both are checked by identity on every
 * pass. A handle object held here is never reused by DJL, so the check sees a replacement even where the native
 * allocator gives the new tensor the old one's address.
 */
final class LiveTensors implements LiveWeights {
    private final List<Parameter> parameters;
    private final boolean[] zeroCopy;
    private final ByteBuffer[] copies;
    /** Per zero-copy tensor: the buffer fetched last, and the array and native handle object it was fetched from. */
    private final ByteBuffer[] views;
    private final NDArray[] viewArrays;
    private final Object[] viewHandles;

    LiveTensors(List<Parameter> parameters, boolean allowZeroCopy) {
        this.parameters = List.copyOf(parameters);
        this.zeroCopy = new boolean[parameters.size()];
        this.copies = new ByteBuffer[parameters.size()];
        this.views = new ByteBuffer[parameters.size()];
        this.viewArrays = new NDArray[parameters.size()];
        this.viewHandles = new Object[parameters.size()];
        for (int i = 0; i < zeroCopy.length; i++) {
            zeroCopy[i] = allowZeroCopy && probeZeroCopy(array(i));
        }
    }

    @Override
    public ByteBuffer buffer(int index) {
        NDArray array = array(index);
        if (zeroCopy[index]) {
            return view(index, array);
        }
        ByteBuffer copy = array.toByteBuffer(false).order(ByteOrder.nativeOrder());
        copies[index] = copy;
        return copy;
    }

    /** The zero-copy buffer of an open array, fetched from DJL only when the array or its handle object changed. */
    private ByteBuffer view(int index, NDArray array) {
        Object handle = array instanceof NativeResource<?> resource ? resource.getHandle() : null;
        if (handle == null || array != viewArrays[index] || handle != viewHandles[index]) {
            views[index] = array.toByteBuffer(true);
            viewArrays[index] = array;
            viewHandles[index] = handle;
        }
        return views[index].duplicate().order(ByteOrder.nativeOrder());
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
        Parameter parameter = parameters.get(index);
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
