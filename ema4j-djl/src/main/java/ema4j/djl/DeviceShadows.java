package ema4j.djl;

import static ema4j.core.internal.Preconditions.requireArgument;
import static ema4j.core.internal.Preconditions.requireState;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Parameter;
import ema4j.core.internal.EmaClock;
import ema4j.core.EmaSnapshot;
import ema4j.core.TensorSpec;
import ema4j.core.UpdateResult;
import ema4j.core.WeightFormat;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Shadows kept as NDArrays beside the live weights, on their device, and averaged there with the engine's
 * arithmetic: {@code e += (1 - d) * (w - e)}, one temporary the size of one tensor at a time.
 *
 * <p>Before averaging, one sum per tensor (not finite when a weight is NaN or infinite) and a single read of their
 * total on the host check every weight; only when that fails are the tensors searched for the first bad element,
 * and nothing has been averaged. Shadows are float32 (float64 for float64 weights); while
 * swapped in, 16-bit live weights are kept aside on their device so that they come back bit-exactly. The shadows
 * belong to a manager of their own under the live weights' manager: closing the model frees them, and so does
 * {@link #close}.
 */
final class DeviceShadows implements ShadowStore {
    private static final NDIndex EVERYTHING = new NDIndex("...");

    private final List<Parameter> parameters;
    private final List<TensorSpec> specs;
    private final EmaClock clock;
    private final NDManager manager;
    /** Makes the update's weight as a CPU scalar, which the engine passes to any device's kernel without a copy. */
    private final NDManager scalars;
    private final NDArray[] shadows;
    /** The live 16-bit weights kept aside while the shadows are swapped in; null otherwise. */
    private NDArray[] keptAside;

    private DeviceShadows(List<Parameter> parameters, List<TensorSpec> specs, EmaClock clock) {
        requireArgument(!parameters.isEmpty(), "averaged parameters", "at least one to keep on a device", 0);
        this.parameters = List.copyOf(parameters);
        this.specs = List.copyOf(specs);
        this.clock = clock;
        NDArray first = live(0);
        this.manager = first.getManager().newSubManager(first.getDevice());
        this.scalars = first.getManager().newSubManager(Device.cpu());
        this.shadows = new NDArray[parameters.size()];
    }

    /** Shadows that start as a copy of the live weights. */
    static DeviceShadows start(List<Parameter> parameters, List<TensorSpec> specs, EmaClock clock) {
        DeviceShadows store = new DeviceShadows(parameters, specs, clock);
        for (int i = 0; i < store.shadows.length; i++) {
            NDArray w = store.live(i);
            store.shadows[i] = copyAs(w, shadowType(w));
            store.shadows[i].attach(store.manager);
        }
        return store;
    }

    /** Shadows read from a snapshot whose shadows were checked against {@code specs}. */
    static DeviceShadows restore(List<Parameter> parameters, List<TensorSpec> specs, EmaClock clock,
            EmaSnapshot snapshot) {
        DeviceShadows store = new DeviceShadows(parameters, specs, clock);
        for (int i = 0; i < store.shadows.length; i++) {
            NDArray w = store.live(i);
            DataType type = shadowType(w);
            ByteBuffer saved = snapshot.shadow(specs.get(i).name());
            NDArray read = store.manager.create(nativeOrder(saved, type.getNumOfBytes()), w.getShape(), type);
            store.shadows[i] = replaced(read, read.toDevice(w.getDevice(), false));
            store.shadows[i].attach(store.manager);
        }
        return store;
    }

    /** {@code next}, having closed {@code previous} when it is another array. */
    private static NDArray replaced(NDArray previous, NDArray next) {
        if (next != previous) {
            previous.close();
        }
        return next;
    }

    private static DataType shadowType(NDArray live) {
        return live.getDataType() == DataType.FLOAT64 ? DataType.FLOAT64 : DataType.FLOAT32;
    }

    @Override
    public List<TensorSpec> tensors() {
        return specs;
    }

    @Override
    public EmaClock clock() {
        return clock.copy();
    }

    @Override
    public UpdateResult update(int steps) {
        requireState(keptAside == null, "the EMA weights are swapped into the model; close the swap before updating");
        double decay = clock.decayFor(steps);
        int bad = firstNonFiniteTensor();
        if (bad >= 0) {
            return clock.refused(specs.get(bad).name(), firstNonFiniteElement(live(bad)), decay, steps);
        }
        try (NDArray weight32 = scalars.create((float) (1.0 - decay)); NDArray weight64 = scalars.create(1.0 - decay)) {
            for (int i = 0; i < shadows.length; i++) {
                NDArray e = shadows[i];
                boolean wide = e.getDataType() == DataType.FLOAT64;
                if (wide ? 1.0 - decay == 1.0 : (float) (1.0 - decay) == 1f) {
                    setValues(e, live(i));   // 1 - d rounds to 1: a copy, done as one, as on the host
                    continue;
                }
                try (NDArray step = difference(live(i), e)) {
                    e.addi(step.muli(wide ? weight64 : weight32));
                }
            }
        }
        return clock.applied(decay, steps);
    }

    /**
     * A new array with {@code array}'s values in {@code type}. ({@code toType} to the same type shares the memory of
     * the original in DJL's PyTorch engine, copy flag or not.)
     */
    private static NDArray copyAs(NDArray array, DataType type) {
        return array.getDataType() == type ? array.duplicate() : array.toType(type, false);
    }

    /** Overwrites {@code target}'s values in place with {@code values}, converted to the target's type. */
    private static void setValues(NDArray target, NDArray values) {
        if (values.getDataType() == target.getDataType()) {
            target.set(EVERYTHING, values);
        } else {
            try (NDArray converted = copyAs(values, target.getDataType())) {
                target.set(EVERYTHING, converted);
            }
        }
    }

    /** {@code w - e} in the shadow's type, a new array. */
    private static NDArray difference(NDArray w, NDArray e) {
        if (w.getDataType() == e.getDataType()) {
            return w.sub(e);
        }
        return copyAs(w, e.getDataType()).subi(e);
    }

    /**
     * The first tensor with a NaN or infinite weight, or -1: a sum per tensor, which is NaN or infinite when a weight
     * is, stacked and summed once more, and one read of that total, so one wait for the device per update. A sum of
     * finite weights that overflows sends the update down the exact search, which then finds nothing.
     */
    private int firstNonFiniteTensor() {
        try (NDList sums = new NDList(shadows.length)) {
            for (int i = 0; i < shadows.length; i++) {
                NDArray sum = live(i).sum();
                if (i > 0 && !sum.getDevice().equals(sums.get(0).getDevice())) {
                    NDArray moved = sum.toDevice(sums.get(0).getDevice(), true);
                    sum.close();
                    sum = moved;
                }
                sums.add(sum);
            }
            // stacking promotes the sums of 16-bit weights to the widest type among them
            try (NDArray stacked = NDArrays.stack(sums); NDArray total = stacked.sum()) {
                if (Double.isFinite(total.toArray()[0].doubleValue())) {
                    return -1;
                }
            }
        }
        for (int i = 0; i < shadows.length; i++) {
            if (firstNonFiniteElement(live(i)) >= 0) {
                return i;
            }
        }
        return -1;
    }

    /** The flat index of the first NaN or infinite element of {@code w}, or -1. */
    private static long firstNonFiniteElement(NDArray w) {
        try (NDArray nan = w.isNaN(); NDArray inf = w.isInfinite(); NDArray bad = nan.logicalOr(inf);
                NDArray flat = bad.flatten(); NDArray ints = flat.toType(DataType.INT32, false)) {
            if (ints.size() == 0) {
                return -1;
            }
            try (NDArray any = ints.max()) {
                if (any.getInt() == 0) {
                    return -1;
                }
            }
            try (NDArray at = ints.argMax()) {
                return at.getLong();
            }
        }
    }

    @Override
    public void exchange() {
        if (keptAside == null) {
            NDArray[] kept = new NDArray[shadows.length];
            for (int i = 0; i < shadows.length; i++) {
                NDArray w = live(i);
                if (w.getDataType() == shadows[i].getDataType()) {
                    swap(w, shadows[i]);
                } else {
                    kept[i] = w.duplicate();
                    kept[i].attach(manager);
                    setValues(w, shadows[i]);
                }
            }
            keptAside = kept;
        } else {
            for (int i = 0; i < shadows.length; i++) {
                NDArray w = live(i);
                if (keptAside[i] == null) {
                    swap(w, shadows[i]);
                } else {
                    w.set(EVERYTHING, keptAside[i]);
                    keptAside[i].close();
                }
            }
            keptAside = null;
        }
    }

    /** Exchanges the values of two arrays of one type in place, through a copy of one of them. */
    private static void swap(NDArray a, NDArray b) {
        try (NDArray copy = a.duplicate()) {
            a.set(EVERYTHING, b);
            b.set(EVERYTHING, copy);
        }
    }

    @Override
    public void writeShadow(int index, ByteBuffer target) {
        requireState(keptAside == null, "the EMA weights are swapped into the model; read them there or close the"
                + " swap");
        TensorSpec spec = specs.get(index);
        long bytes = (long) spec.elementCount() * spec.format().bytesPerElement();
        requireArgument(target.remaining() >= bytes, "target of " + spec.name(), "at least " + bytes + " bytes",
                target.remaining());
        NDArray e = shadows[index];
        DataType liveType = live(index).getDataType();
        if (liveType == e.getDataType()) {
            ElementCopy.copy(engineBytes(e), target, liveType.getNumOfBytes());
        } else {
            try (NDArray rounded = copyAs(e, liveType)) {
                ElementCopy.copy(engineBytes(rounded), target, liveType.getNumOfBytes());
            }
        }
    }

    @Override
    public EmaSnapshot snapshot() {
        requireState(keptAside == null, "the EMA weights are swapped into the model; close the swap first");
        List<EmaSnapshot.SavedShadow> saved = new ArrayList<>(shadows.length);
        for (int i = 0; i < shadows.length; i++) {
            TensorSpec spec = specs.get(i);
            saved.add(new EmaSnapshot.SavedShadow(new TensorSpec(spec.name(), spec.shape(),
                    shadowPrecision(shadows[i])), ElementCopy.littleEndian(shadows[i])));
        }
        return EmaSnapshot.of(clock.schedule(), clock.updates(), clock.skippedUpdates(), saved);
    }

    private static WeightFormat shadowPrecision(NDArray shadow) {
        return shadow.getDataType() == DataType.FLOAT64 ? WeightFormat.FLOAT64 : WeightFormat.FLOAT32;
    }

    @Override
    public double drift() {
        requireState(keptAside == null, "the EMA weights are swapped into the model; close the swap before measuring"
                + " drift");
        double distance = 0;
        double norm = 0;
        for (int i = 0; i < shadows.length; i++) {
            NDArray e = shadows[i];
            try (NDArray w = copyAs(live(i), DataType.FLOAT64); NDArray e64 = copyAs(e, DataType.FLOAT64);
                    NDArray d = e64.sub(w); NDArray d2 = d.square(); NDArray dSum = d2.sum();
                    NDArray w2 = w.square(); NDArray wSum = w2.sum()) {
                distance += dSum.getDouble();
                norm += wSum.getDouble();
            }
        }
        return norm == 0 ? (distance == 0 ? 0 : Double.POSITIVE_INFINITY) : Math.sqrt(distance / norm);
    }

    @Override
    public long shadowBytes() {
        long total = 0;
        for (NDArray e : shadows) {
            total += e.size() * e.getDataType().getNumOfBytes();
        }
        return total;
    }

    @Override
    public void close() {
        manager.close();
        scalars.close();
    }

    private NDArray live(int index) {
        return LiveTensors.liveArray(parameters.get(index));
    }

    /** A host copy of {@code array}'s values, in native byte order as the engine holds them. */
    private static ByteBuffer engineBytes(NDArray array) {
        return array.toByteBuffer(false).order(ByteOrder.nativeOrder());
    }

    /** {@code values} as a direct buffer in native order, for the engine to read. */
    private static ByteBuffer nativeOrder(ByteBuffer values, int width) {
        ByteBuffer copy = ByteBuffer.allocateDirect(values.remaining()).order(ByteOrder.nativeOrder());
        ElementCopy.copy(values.slice().order(values.order()), copy, width);
        return copy;
    }

    @Override
    public String toString() {
        return "DeviceShadows{" + clock + ", tensors=" + specs.size() + ", device=" + manager.getDevice() + "}";
    }
}
