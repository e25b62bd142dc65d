package ema4j.djl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.nn.Parameter;
import ai.djl.util.NativeResource;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The zero-copy buffers of the live weights on DJL's PyTorch engine: every pass reads the tensor's memory where it is
 * now, whichever way DJL moved it, and a closed array is refused before its memory is read.
 */
class LiveTensorsTest {
    private NDManager manager;
    private Parameter parameter;
    private LiveTensors live;

    @BeforeEach
    void setUp() {
        manager = Engine.getEngine("PyTorch").newBaseManager();
        parameter = Parameter.builder().setName("weight").setType(Parameter.Type.WEIGHT).build();
        parameter.setArray(manager.create(new float[] {1, 2, 3, 4}));
        live = new LiveTensors(List.of(parameter), true);
        assertThat(live.allZeroCopy()).as("zero-copy on the PyTorch CPU engine").isTrue();
    }

    @AfterEach
    void tearDown() {
        manager.close();
    }

    private float[] read() {
        FloatBuffer values = live.buffer(0).asFloatBuffer();
        float[] out = new float[values.remaining()];
        values.get(out);
        return out;
    }

    private static Object handle(NDArray array) {
        return ((NativeResource<?>) array).getHandle();
    }

    @Test
    void inPlaceStepsAreSeenThroughTheBufferFetchedBefore() {
        assertThat(read()).containsExactly(1, 2, 3, 4);
        parameter.getArray().muli(2);          // what optimizers do: same memory, new values
        assertThat(read()).containsExactly(2, 4, 6, 8);
    }

    @Test
    void memoryReplacedUnderTheSameArrayIsReadWhereItIsNow() {
        NDArray array = parameter.getArray();
        assertThat(read()).containsExactly(1, 2, 3, 4);
        Object before = handle(array);
        // NDArray.intern: the array object stays, its native tensor is replaced by another's and freed
        array.intern(manager.create(new float[] {5, 6, 7, 8}));
        assertThat(handle(array)).as("DJL swapped the native tensor").isNotSameAs(before);
        assertThat(read()).containsExactly(5, 6, 7, 8);
        // twice without a read between: the native allocator may give the newest tensor the first one's address,
        // which a check on the handle's value would take for the first tensor
        array.intern(manager.create(new float[] {0, 0, 0, 0}));
        array.intern(manager.create(new float[] {-1, -2, -3, -4}));
        assertThat(read()).containsExactly(-1, -2, -3, -4);
    }

    @Test
    void memoryThatSetPutsUnderTheSameHandleIsReadWhereItIsNow() {
        NDArray array = parameter.getArray();
        Object handle = handle(array);
        assertThat(read()).containsExactly(1, 2, 3, 4);
        // set(Buffer) gives the same native tensor other storage (the buffer's own memory): same NDArray, same
        // handle object, other memory, so no check on either can tell a kept buffer is stale
        ByteBuffer values = ByteBuffer.allocateDirect(16).order(java.nio.ByteOrder.nativeOrder());
        values.asFloatBuffer().put(new float[] {4, 3, 2, 1});
        array.set(values);
        assertThat(handle(array)).isSameAs(handle);
        assertThat(read()).containsExactly(4, 3, 2, 1);
    }

    @Test
    void aParameterGivenAnotherArrayIsReadThere() throws Exception {
        NDArray first = parameter.getArray();
        assertThat(read()).containsExactly(1, 2, 3, 4);
        Parameter saved = Parameter.builder().setName("weight").setType(Parameter.Type.WEIGHT).build();
        saved.setArray(manager.create(new float[] {9, 8, 7, 6}));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        saved.save(new DataOutputStream(bytes));
        parameter.load(manager, new DataInputStream(new ByteArrayInputStream(bytes.toByteArray())));
        assertThat(parameter.getArray()).as("loading gave the parameter another array").isNotSameAs(first);
        assertThat(read()).containsExactly(9, 8, 7, 6);
    }

    @Test
    void aClosedArrayIsRefusedBeforeItsMemoryIsRead() {
        assertThat(read()).containsExactly(1, 2, 3, 4);
        parameter.getArray().close();
        assertThatThrownBy(() -> live.buffer(0))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("parameter weight has no live array");
    }

    @Test
    void buffersHandedOutDoNotShareAPosition() {
        ByteBuffer first = live.buffer(0);
        first.position(8);
        assertThat(live.buffer(0).position()).isZero();
        assertThat(live.buffer(0).order()).isEqualTo(java.nio.ByteOrder.nativeOrder());
        assertThat(new Shape(parameter.getArray().getShape().getShape())).isEqualTo(new Shape(4));
    }

    @Test
    void aClosedArrayLeavesTheEmaAsItWas() {
        List<Parameter> parameters = new java.util.ArrayList<>();
        List<ema4j.core.TensorSpec> specs = new java.util.ArrayList<>();
        for (int i = 0; i < 6; i++) {
            Parameter p = Parameter.builder().setName("w" + i).setType(Parameter.Type.WEIGHT).build();
            p.setArray(manager.ones(new Shape(5_000)).muli(i));
            parameters.add(p);
            specs.add(new ema4j.core.TensorSpec("w" + i, new long[] {5_000}, ema4j.core.WeightFormat.FLOAT32));
        }
        LiveTensors tensors = new LiveTensors(parameters, true);
        ema4j.core.EmaState ema = ema4j.core.EmaState.builder(ema4j.core.schedule.DecaySchedule.constant(0.5))
                .threads(2).start(specs, tensors);
        for (Parameter p : parameters) {
            p.getArray().addi(10);
        }
        parameters.get(3).getArray().close();
        assertThatThrownBy(() -> ema.update(tensors))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("parameter w3 has no live array");
        assertThat(ema.updates()).isZero();
        for (int i = 0; i < 6; i++) {
            assertThat(ema.shadowValues("w" + i)).containsOnly(i);
        }
    }
}
