package ema4j.training;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.nn.Block;
import ai.djl.nn.Parameter;
import ai.djl.util.Pair;
import com.fasterxml.jackson.databind.JsonNode;
import ema4j.core.EmaSnapshot;
import ema4j.core.NonFinitePolicy;
import ema4j.core.TensorSpec;
import ema4j.core.WeightFormat;
import ema4j.core.policy.ParameterRule;
import ema4j.core.schedule.DecaySchedule;
import ema4j.djl.EmaModel;
import ema4j.djl.EmaStatus;
import ema4j.djl.ParameterReport;
import ema4j.training.optim.CheckpointableOptimizer;
import ema4j.io.checkpoint.Checkpoint;
import ema4j.io.checkpoint.CheckpointFormatException;
import ema4j.io.checkpoint.CheckpointStore;
import ema4j.io.checkpoint.ScheduleCodec;
import ema4j.io.checkpoint.StrictFields;
import ema4j.io.safetensors.SafetensorsFile;
import ema4j.io.safetensors.SafetensorsWriter;
import ema4j.io.safetensors.TensorEntry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What a DJL training run puts in a checkpoint and takes back from it, so that training resumes exactly.
 *
 * <p>Files: {@code model.safetensors} (every live parameter, BatchNorm statistics included), {@code ema.safetensors}
 * (the complete EMA model: shadows of averaged parameters, live values of copied ones), {@code optimizer.safetensors}
 * (every optimizer slot, named {@code <parameter>/<slot>}) and {@code state.json} (EMA schedule and counters,
 * optimizer update counts, and the caller's training counters); and, when the caller tracks more EMAs of the same
 * block, one complete EMA model per additional EMA in {@code <name>.safetensors}. For EMAs of float16 or bfloat16
 * weights, whose float32 shadows the EMA model rounds, {@code ema-shadows.safetensors} (and {@code
 * <name>-shadows.safetensors}) keep the shadows at full precision, so that resuming is exact for them too.
 */
public final class TrainingCheckpoint {
    /** Live weights. */
    public static final String MODEL = "model.safetensors";
    /** EMA weights. */
    public static final String EMA = "ema.safetensors";
    /** Optimizer slots. */
    public static final String OPTIMIZER = "optimizer.safetensors";
    /** Counters and configuration. */
    public static final String STATE = "state.json";

    private TrainingCheckpoint() {}

    /**
     * The contents of a checkpoint of this moment of training.
     *
     * @param block the trained block
     * @param ema its EMA, or null when training without one
     * @param optimizer the optimizer, bound to {@code block}
     * @param training the caller's counters (epoch, step, data order), any JSON-ready map
     */
    public static CheckpointStore.Contents contents(Block block, EmaModel ema, CheckpointableOptimizer optimizer,
            Map<String, ?> training) {
        return contents(block, ema, Map.of(), optimizer, training);
    }

    /**
     * The contents of a checkpoint of this moment of training, with more EMAs of the same block beside the main one
     * (e.g. the power-function EMAs that post-hoc EMA records), each complete in {@code <name>.safetensors} and
     * with its counters under {@code additionalEmas} in {@code state.json}.
     *
     * @param additional further EMAs of {@code block} by name, each name lower-case letters, digits and dashes,
     *     not {@code model}, {@code ema} or {@code optimizer}
     */
    public static CheckpointStore.Contents contents(Block block, EmaModel ema, Map<String, EmaModel> additional,
            CheckpointableOptimizer optimizer, Map<String, ?> training) {
        requireArgument(additional != null, "additional EMAs", "non-null (Map.of() for none)", null);
        for (String name : additional.keySet()) {
            requireArgument(name.matches("[a-z0-9][a-z0-9-]*") && !RESERVED.contains(name),
                    "the name of an additional EMA", "lower-case letters, digits and dashes, not one of " + RESERVED,
                    name);
        }
        SafetensorsWriter model = SafetensorsWriter.create().metadata("format", "pt");
        for (Pair<String, Parameter> p : block.getParameters()) {
            NDArray array = p.getValue().getArray();
            model.tensor(p.getKey(), dtype(p.getKey(), array.getDataType()), array.getShape().getShape(),
                    littleEndian(array));
        }
        SafetensorsWriter slots = SafetensorsWriter.create();
        for (Map.Entry<String, NDArray> slot : optimizer.slots().entrySet()) {
            NDArray array = slot.getValue();
            slots.tensor(slot.getKey(), dtype(slot.getKey(), array.getDataType()), array.getShape().getShape(),
                    littleEndian(array));
        }
        Map<String, Object> state = new LinkedHashMap<>();
        CheckpointStore.Contents contents = new CheckpointStore.Contents().tensors(MODEL, model);
        if (ema != null) {
            state.put("ema", emaState(ema));
            addEma(contents, EMA, block, ema);
        }
        if (!additional.isEmpty()) {
            Map<String, Object> states = new LinkedHashMap<>();
            for (Map.Entry<String, EmaModel> e : additional.entrySet()) {
                states.put(e.getKey(), emaState(e.getValue()));
                addEma(contents, e.getKey() + ".safetensors", block, e.getValue());
            }
            state.put(ADDITIONAL, states);
        }
        Map<String, Object> o = new LinkedHashMap<>();
        o.put("type", optimizer.getClass().getSimpleName());
        o.put("description", optimizer.toString());
        o.put("updateCounts", optimizer.updateCounts());
        state.put("optimizer", o);
        state.put("training", training);
        return contents.tensors(OPTIMIZER, slots).json(STATE, state);
    }

    private static final String ADDITIONAL = "additionalEmas";
    private static final java.util.Set<String> RESERVED = java.util.Set.of("model", "ema", "optimizer");

    /**
     * Adds the complete EMA model as {@code file}, and, when a shadow is held at a higher precision than its weight
     * (float32 shadows of float16/bfloat16 weights), every shadow at its own precision as {@link #shadowsFile}, which
     * resuming prefers: the EMA model alone would round those shadows to 16 bits.
     */
    private static void addEma(CheckpointStore.Contents contents, String file, Block block, EmaModel ema) {
        contents.tensors(file, emaModel(block, ema));
        boolean wider = ema.parameters().stream().anyMatch(r -> r.rule() == ParameterRule.AVERAGE
                && (r.dtype().equals(DataType.FLOAT16.toString()) || r.dtype().equals(DataType.BFLOAT16.toString())));
        if (wider) {
            SafetensorsWriter shadows = SafetensorsWriter.create();
            for (EmaSnapshot.SavedShadow shadow : ema.snapshot().shadows()) {
                TensorSpec spec = shadow.tensor();
                shadows.tensor(spec.name(), spec.format().safetensorsName(), spec.shape(), shadow.values());
            }
            contents.tensors(shadowsFile(file), shadows);
        }
    }

    /**
     * The file holding an EMA's shadows at their own precision beside {@code emaFile} (e.g. {@code
     * ema-shadows.safetensors}); written only for EMAs of 16-bit weights.
     */
    public static String shadowsFile(String emaFile) {
        return emaFile.replaceFirst("\\.safetensors$", "") + "-shadows.safetensors";
    }

    /** The complete EMA model of {@code block}: shadows of averaged parameters, live values of copied ones. */
    private static SafetensorsWriter emaModel(Block block, EmaModel ema) {
        SafetensorsWriter averaged = SafetensorsWriter.create().metadata("format", "pt");
        for (Pair<String, Parameter> p : block.getParameters()) {
            NDArray array = p.getValue().getArray();
            ByteBuffer values = ByteBuffer.allocate(Math.toIntExact(array.size()
                    * array.getDataType().getNumOfBytes())).order(ByteOrder.LITTLE_ENDIAN);
            ema.readEmaWeight(p.getKey(), values);
            averaged.tensor(p.getKey(), dtype(p.getKey(), array.getDataType()), array.getShape().getShape(), values);
        }
        return averaged;
    }

    private static Map<String, Object> emaState(EmaModel ema) {
        Map<String, Object> e = new LinkedHashMap<>();
        EmaStatus status = ema.status();
        e.put("schedule", ScheduleCodec.toMap(status.schedule()));
        e.put("updates", status.updates());
        e.put("skippedUpdates", status.skippedUpdates());
        e.put("lastDecay", status.updates() == 0 ? null : status.lastDecay());
        e.put("nonFinite", status.nonFinite().name());
        e.put("averaged", ema.parameters().stream().filter(r -> r.rule() == ParameterRule.AVERAGE)
                .map(ParameterReport::name).toList());
        return e;
    }

    /**
     * Puts the checkpoint's live weights into {@code block} (writing into the arrays the trainer holds) and restores
     * the optimizer's update counts and slots.
     *
     * @param checkpoint a verified checkpoint
     * @param block an initialized block of the same architecture
     * @param optimizer the optimizer, bound to {@code block}
     * @throws CheckpointFormatException when names, shapes or dtypes do not match the block
     */
    public static void restoreModelAndOptimizer(Checkpoint checkpoint, Block block, CheckpointableOptimizer optimizer)
            throws IOException {
        try (SafetensorsFile model = checkpoint.tensors(MODEL)) {
            Map<String, Parameter> parameters = new LinkedHashMap<>();
            for (Pair<String, Parameter> p : block.getParameters()) {
                parameters.put(p.getKey(), p.getValue());
            }
            for (TensorEntry entry : model.tensors()) {
                if (!parameters.containsKey(entry.name())) {
                    throw new CheckpointFormatException(checkpoint.directory(), MODEL + " has tensor "
                            + entry.name() + " that the block lacks");
                }
            }
            for (Map.Entry<String, Parameter> p : parameters.entrySet()) {
                NDArray array = p.getValue().getArray();
                TensorEntry entry = model.find(p.getKey()).orElseThrow(() -> new CheckpointFormatException(
                        checkpoint.directory(), MODEL + " lacks parameter " + p.getKey()));
                requireMatch(checkpoint, MODEL, entry, array);
                ByteBuffer values = model.read(p.getKey());
                try (NDArray loaded = array.getManager().create(values.order(ByteOrder.LITTLE_ENDIAN),
                        array.getShape(), array.getDataType())) {
                    array.set(new NDIndex("..."), loaded);
                }
            }
        }
        Map<String, Long> updateCounts = optimizerState(checkpoint, optimizer);
        Map<String, ByteBuffer> slots = new HashMap<>();
        try (SafetensorsFile file = checkpoint.tensors(OPTIMIZER)) {
            for (TensorEntry entry : file.tensors()) {
                slots.put(entry.name(), file.read(entry.name()).order(ByteOrder.LITTLE_ENDIAN));
            }
        }
        optimizer.restore(updateCounts, slots);
    }

    /**
     * Resumes the checkpoint's EMA over {@code block} with the saved schedule and counters.
     *
     * @param builder the EMA's options (its schedule must equal the saved one)
     * @return the resumed EMA, or null when the checkpoint has none
     */
    public static EmaModel resumeEma(Checkpoint checkpoint, EmaModel.Builder builder, Block block)
            throws IOException {
        if (!checkpoint.has(EMA)) {
            return null;
        }
        return resume(checkpoint, EMA, emaState(checkpoint, state(checkpoint).get("ema"), "ema"), builder, block);
    }

    /**
     * The schedules of the additional EMAs the checkpoint holds, by name ({@link ScheduleCodec} JSON), in the order
     * they were saved; empty when it has none.
     */
    public static Map<String, JsonNode> additionalEmaSchedules(Checkpoint checkpoint) throws IOException {
        Map<String, JsonNode> schedules = new LinkedHashMap<>();
        JsonNode additional = state(checkpoint).get(ADDITIONAL);
        if (additional != null) {
            new StrictFields(checkpoint.directory(), STATE).object(additional, ADDITIONAL).fields()
                    .forEachRemaining(e -> schedules.put(e.getKey(), e.getValue().get("schedule")));
        }
        return schedules;
    }

    /**
     * Resumes the additional EMA saved as {@code name} over {@code block} with its saved counters.
     *
     * @param builder the EMA's options (its schedule must equal the saved one)
     * @throws CheckpointFormatException when the checkpoint holds no such EMA
     */
    public static EmaModel resumeAdditionalEma(Checkpoint checkpoint, String name, EmaModel.Builder builder,
            Block block) throws IOException {
        JsonNode state = state(checkpoint).path(ADDITIONAL).get(name);
        String file = name + ".safetensors";
        if (state == null || !checkpoint.has(file)) {
            throw new CheckpointFormatException(checkpoint.directory(), "has no additional EMA " + name
                    + "; it holds " + additionalEmaSchedules(checkpoint).keySet());
        }
        return resume(checkpoint, file, emaState(checkpoint, state, ADDITIONAL + "." + name), builder, block);
    }

    private static EmaModel resume(Checkpoint checkpoint, String file, JsonNode state, EmaModel.Builder builder,
            Block block) throws IOException {
        boolean exact = checkpoint.has(shadowsFile(file));
        List<EmaSnapshot.SavedShadow> shadows = new ArrayList<>();
        try (SafetensorsFile tensors = checkpoint.tensors(exact ? shadowsFile(file) : file)) {
            for (JsonNode name : state.path("averaged")) {
                TensorEntry entry = tensors.find(name.asText()).orElseThrow(() -> new CheckpointFormatException(
                        checkpoint.directory(), (exact ? shadowsFile(file) : file) + " lacks the averaged parameter "
                                + name.asText()));
                WeightFormat precision = entry.dtype().equals("F64") ? WeightFormat.FLOAT64 : WeightFormat.FLOAT32;
                shadows.add(new EmaSnapshot.SavedShadow(new TensorSpec(name.asText(), entry.shape(), precision),
                        tensors.read(name.asText())));
            }
        }
        EmaSnapshot snapshot = EmaSnapshot.of(schedule(checkpoint, state), state.get("updates").asLong(),
                state.get("skippedUpdates").asLong(), shadows);
        return builder.resume(block, snapshot);
    }

    /** The saved EMA schedule's hyper-parameters, or null without an EMA. */
    public static JsonNode savedSchedule(Checkpoint checkpoint) throws IOException {
        JsonNode ema = state(checkpoint).get("ema");
        return ema == null ? null : emaState(checkpoint, ema, "ema").get("schedule");
    }

    /** The caller's training counters as saved. */
    public static JsonNode training(Checkpoint checkpoint) throws IOException {
        return state(checkpoint).path("training");
    }

    /**
     * Reads every EMA and optimizer field of the checkpoint's {@code state.json} strictly, as resuming does, without
     * a model: for tools that check a checkpoint ({@code ema4j inspect}).
     *
     * @throws CheckpointFormatException naming the first field that is missing, malformed, out of range or unknown
     */
    public static void verify(Checkpoint checkpoint) throws IOException {
        JsonNode state = state(checkpoint);
        if (state.get("ema") != null) {
            emaState(checkpoint, state.get("ema"), "ema");
        }
        for (String name : additionalEmaSchedules(checkpoint).keySet()) {
            emaState(checkpoint, state.get(ADDITIONAL).get(name), ADDITIONAL + "." + name);
        }
        optimizerState(checkpoint, null);
    }

    private static final java.util.Set<String> STATE_FIELDS = java.util.Set.of("ema", ADDITIONAL, "optimizer",
            "training");
    private static final java.util.Set<String> EMA_FIELDS = java.util.Set.of("schedule", "updates", "skippedUpdates",
            "lastDecay", "nonFinite", "averaged");

    /** The checkpoint's {@code state.json}: an object of the fields this class writes. */
    private static JsonNode state(Checkpoint checkpoint) throws IOException {
        return new StrictFields(checkpoint.directory(), STATE).object(checkpoint.json(STATE), "the document",
                STATE_FIELDS);
    }

    /** One EMA's counters and rules, every field checked. */
    private static JsonNode emaState(Checkpoint checkpoint, JsonNode ema, String path) {
        StrictFields strict = new StrictFields(checkpoint.directory(), STATE);
        strict.object(ema, path, EMA_FIELDS);
        schedule(checkpoint, ema);
        long updates = strict.whole(ema.get("updates"), path + ".updates", 0);
        strict.whole(ema.get("skippedUpdates"), path + ".skippedUpdates", 0);
        if (updates > 0) {
            strict.number(ema.get("lastDecay"), path + ".lastDecay");
        }
        strict.oneOf(ema.get("nonFinite"), path + ".nonFinite", java.util.Arrays.stream(NonFinitePolicy.values())
                .map(Enum::name).toList());
        JsonNode averaged = strict.array(ema.get("averaged"), path + ".averaged", -1);
        for (int i = 0; i < averaged.size(); i++) {
            if (!averaged.get(i).isTextual()) {
                throw new CheckpointFormatException(checkpoint.directory(), STATE + ": " + path + ".averaged[" + i
                        + "] must be a parameter's name, was " + averaged.get(i));
            }
        }
        return ema;
    }

    private static DecaySchedule schedule(Checkpoint checkpoint, JsonNode ema) {
        try {
            return ScheduleCodec.fromJson(ema.path("schedule"));
        } catch (IllegalArgumentException e) {
            throw new CheckpointFormatException(checkpoint.directory(), STATE + ": " + e.getMessage());
        }
    }

    /**
     * The optimizer's update counts by parameter, every field checked; when {@code optimizer} is given, the saved
     * type must be its.
     */
    private static Map<String, Long> optimizerState(Checkpoint checkpoint, CheckpointableOptimizer optimizer)
            throws IOException {
        StrictFields strict = new StrictFields(checkpoint.directory(), STATE);
        JsonNode o = strict.object(state(checkpoint).get("optimizer"), "optimizer",
                java.util.Set.of("type", "description", "updateCounts"));
        String type = strict.oneOf(o.get("type"), "optimizer.type", List.of("CheckpointableSgd",
                "CheckpointableAdam"));
        requireArgument(optimizer == null || optimizer.getClass().getSimpleName().equals(type), "the optimizer",
                "a " + type + " to resume " + checkpoint.directory(), optimizer == null ? null
                        : optimizer.getClass().getSimpleName());
        Map<String, Long> updateCounts = new HashMap<>();
        strict.object(o.get("updateCounts"), "optimizer.updateCounts").fields().forEachRemaining(e -> updateCounts
                .put(e.getKey(), strict.whole(e.getValue(), "optimizer.updateCounts." + e.getKey(), 0)));
        return updateCounts;
    }

    private static void requireMatch(Checkpoint checkpoint, String file, TensorEntry entry, NDArray array) {
        long[] shape = array.getShape().getShape();
        if (!java.util.Arrays.equals(shape, entry.shape())
                || !entry.dtype().equals(dtype(entry.name(), array.getDataType()))) {
            throw new CheckpointFormatException(checkpoint.directory(), file + ": " + entry.name() + " is "
                    + entry.dtype() + " " + java.util.Arrays.toString(entry.shape()) + ", the block has "
                    + dtype(entry.name(), array.getDataType()) + " " + java.util.Arrays.toString(shape));
        }
    }

    /** The safetensors dtype of a DJL data type. */
    public static String dtype(String name, DataType type) {
        return switch (type) {
            case FLOAT32 -> "F32";
            case FLOAT64 -> "F64";
            case FLOAT16 -> "F16";
            case BFLOAT16 -> "BF16";
            case INT64 -> "I64";
            case INT32 -> "I32";
            case INT8 -> "I8";
            case UINT8 -> "U8";
            case BOOLEAN -> "BOOL";
            default -> throw new IllegalArgumentException("dtype of " + name + " must have a safetensors"
                    + " equivalent, was " + type);
        };
    }

    private static ByteBuffer littleEndian(NDArray array) {
        ByteBuffer native_ = array.toByteBuffer(false);
        requireArgument(ByteOrder.nativeOrder() == ByteOrder.LITTLE_ENDIAN, "byte order", "little-endian",
                ByteOrder.nativeOrder());
        return native_.order(ByteOrder.LITTLE_ENDIAN);
    }
}
