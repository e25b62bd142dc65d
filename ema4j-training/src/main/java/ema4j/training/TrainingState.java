package ema4j.training;

import com.fasterxml.jackson.databind.JsonNode;
import ema4j.djl.Evaluation;
import ema4j.io.checkpoint.Checkpoint;
import ema4j.io.checkpoint.StrictFields;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a {@link TrainingLoop} keeps in a checkpoint beside the tensors (under {@code training} in {@code state.json}):
 * the settings that decide the run's trajectory, where it stands in the data, its evaluations and its training
 * losses. Read back field by field and strictly: a field missing, of the wrong type, out of range or unknown refuses
 * the checkpoint, naming the field.
 *
 * @param trajectory the settings that decide where training goes, by name (numbers, text or booleans)
 * @param position where training stands
 * @param evaluations every evaluation so far, in order
 * @param trainLoss the training loss of every step, step 1 first
 */
public record TrainingState(Map<String, Object> trajectory, Position position, List<EvaluationRecord> evaluations,
        List<Double> trainLoss) {
    /** The version of this part of {@code state.json}. */
    public static final int FORMAT = 1;

    private static final Set<String> FIELDS = Set.of("format", "trajectory", "position", "evaluations", "trainLoss");
    private static final Set<String> POSITION = Set.of("step", "epoch", "batchInEpoch", "examples", "lossSum",
            "lossCount");
    private static final Set<String> EVALUATION = Set.of("step", "epoch", "trainLoss", "raw", "ema", "decay",
            "seconds");

    /** Copies the collections. */
    public TrainingState {
        trajectory = Collections.unmodifiableMap(new LinkedHashMap<>(trajectory));
        evaluations = List.copyOf(evaluations);
        trainLoss = List.copyOf(trainLoss);
    }

    /**
     * Where training stands: what a resumed run needs to see the batches the uninterrupted one would have seen.
     *
     * @param step optimizer steps taken
     * @param epoch the epoch the next step belongs to, from 1
     * @param batchInEpoch batches of that epoch already taken
     * @param examples training examples seen over every epoch
     * @param lossSum the sum of the training losses since the last evaluation
     * @param lossCount how many losses that sum holds
     */
    public record Position(long step, int epoch, long batchInEpoch, long examples, double lossSum, int lossCount) {}

    /** The JSON form, every field by name; non-finite numbers are written as null. */
    public Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("format", FORMAT);
        m.put("trajectory", trajectory);
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("step", position.step());
        p.put("epoch", position.epoch());
        p.put("batchInEpoch", position.batchInEpoch());
        p.put("examples", position.examples());
        p.put("lossSum", finite(position.lossSum()));
        p.put("lossCount", position.lossCount());
        m.put("position", p);
        List<Map<String, Object>> rows = new ArrayList<>();
        for (EvaluationRecord r : evaluations) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("step", r.step());
            row.put("epoch", r.epoch());
            row.put("trainLoss", finite(r.trainLoss()));
            row.put("raw", evaluation(r.raw()));
            row.put("ema", r.ema() == null ? null : evaluation(r.ema()));
            row.put("decay", finite(r.decay()));
            row.put("seconds", r.seconds());
            rows.add(row);
        }
        m.put("evaluations", rows);
        m.put("trainLoss", trainLoss.stream().map(TrainingState::finite).toList());
        return m;
    }

    /**
     * Reads the training state of {@code checkpoint}.
     *
     * @throws ema4j.io.checkpoint.CheckpointFormatException when a field is missing, malformed, out of range or
     *     unknown, naming it
     */
    public static TrainingState read(Checkpoint checkpoint) throws IOException {
        StrictFields strict = new StrictFields(checkpoint.directory(), TrainingCheckpoint.STATE);
        JsonNode t = strict.object(TrainingCheckpoint.training(checkpoint), "training", FIELDS);
        long format = strict.whole(t.get("format"), "training.format", FORMAT);
        if (format != FORMAT) {
            throw new ema4j.io.checkpoint.CheckpointFormatException(checkpoint.directory(), TrainingCheckpoint.STATE
                    + ": training.format must be " + FORMAT + " (this library's), was " + format);
        }
        Map<String, Object> trajectory = new LinkedHashMap<>();
        JsonNode settings = strict.object(t.get("trajectory"), "training.trajectory");
        for (Iterator<Map.Entry<String, JsonNode>> fields = settings.fields(); fields.hasNext();) {
            Map.Entry<String, JsonNode> field = fields.next();
            JsonNode v = field.getValue();
            if (!v.isValueNode() || v.isNull()) {
                throw new ema4j.io.checkpoint.CheckpointFormatException(checkpoint.directory(),
                        TrainingCheckpoint.STATE + ": training.trajectory." + field.getKey() + " must be a number,"
                                + " a text or a boolean, was " + v);
            }
            trajectory.put(field.getKey(), v.isIntegralNumber() ? (Object) v.asLong() : v.isNumber()
                    ? (Object) v.asDouble() : v.isBoolean() ? (Object) v.asBoolean() : v.asText());
        }
        JsonNode p = strict.object(t.get("position"), "training.position", POSITION);
        long step = strict.whole(p.get("step"), "training.position.step", 0);
        Position position = new Position(step,
                Math.toIntExact(strict.whole(p.get("epoch"), "training.position.epoch", 1)),
                strict.whole(p.get("batchInEpoch"), "training.position.batchInEpoch", 0),
                strict.whole(p.get("examples"), "training.position.examples", 0),
                strict.number(p.get("lossSum"), "training.position.lossSum"),
                Math.toIntExact(strict.whole(p.get("lossCount"), "training.position.lossCount", 0)));
        if (step != checkpoint.step()) {
            throw new ema4j.io.checkpoint.CheckpointFormatException(checkpoint.directory(), TrainingCheckpoint.STATE
                    + ": training.position.step must be the checkpoint's step " + checkpoint.step() + ", was " + step);
        }
        List<EvaluationRecord> evaluations = new ArrayList<>();
        JsonNode rows = strict.array(t.get("evaluations"), "training.evaluations", -1);
        for (int i = 0; i < rows.size(); i++) {
            String where = "training.evaluations[" + i + "]";
            JsonNode r = strict.object(rows.get(i), where, EVALUATION);
            JsonNode ema = r.get("ema");
            evaluations.add(new EvaluationRecord(strict.whole(r.get("step"), where + ".step", 1),
                    Math.toIntExact(strict.whole(r.get("epoch"), where + ".epoch", 1)),
                    strict.number(r.get("trainLoss"), where + ".trainLoss"),
                    evaluation(strict, r.get("raw"), where + ".raw"),
                    ema != null && ema.isNull() ? null : evaluation(strict, ema, where + ".ema"),
                    strict.number(r.get("decay"), where + ".decay"),
                    strict.number(r.get("seconds"), where + ".seconds")));
        }
        JsonNode losses = strict.array(t.get("trainLoss"), "training.trainLoss", Math.toIntExact(step));
        List<Double> trainLoss = new ArrayList<>();
        for (int i = 0; i < losses.size(); i++) {
            trainLoss.add(strict.number(losses.get(i), "training.trainLoss[" + i + "]"));
        }
        return new TrainingState(trajectory, position, evaluations, trainLoss);
    }

    private static Map<String, Object> evaluation(Evaluation e) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("loss", finite(e.loss()));
        Map<String, Object> metrics = new LinkedHashMap<>();
        e.metrics().forEach((name, value) -> metrics.put(name, finite(value)));
        m.put("metrics", metrics);
        return m;
    }

    private static Evaluation evaluation(StrictFields strict, JsonNode value, String where) {
        JsonNode e = strict.object(value, where, Set.of("loss", "metrics"));
        JsonNode metrics = strict.object(e.get("metrics"), where + ".metrics");
        Map<String, Double> m = new LinkedHashMap<>();
        for (Iterator<String> names = metrics.fieldNames(); names.hasNext();) {
            String name = names.next();
            m.put(name, strict.number(metrics.get(name), where + ".metrics." + name));
        }
        return new Evaluation(strict.number(e.get("loss"), where + ".loss"), Map.copyOf(m));
    }

    private static Double finite(double v) {
        return Double.isFinite(v) ? v : null;
    }
}
