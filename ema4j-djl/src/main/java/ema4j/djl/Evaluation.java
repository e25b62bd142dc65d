package ema4j.djl;

import ai.djl.ndarray.NDList;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.evaluator.Evaluator;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The trainer's loss and evaluators over a whole dataset, with the weights the block holds now.
 *
 * @param loss the mean of the training loss function over the dataset
 * @param metrics every evaluator's value by name (the loss included, under its own name)
 */
public record Evaluation(double loss, Map<String, Double> metrics) {
    private static final String KEY = "ema4j-evaluation";

    /**
     * Runs the block in inference mode over {@code dataset} and accumulates the trainer's evaluators. It does not
     * notify the trainer's listeners nor touch its metrics, so it can run for raw and EMA weights alike.
     *
     * @param trainer the trainer whose block, loss and evaluators are used
     * @param dataset the data to evaluate on
     */
    public static Evaluation of(Trainer trainer, Dataset dataset) throws IOException, TranslateException {
        List<Evaluator> evaluators = trainer.getEvaluators();
        for (Evaluator e : evaluators) {
            e.addAccumulator(KEY);
            e.resetAccumulator(KEY);
        }
        for (Batch batch : trainer.iterateDataset(dataset)) {
            try (batch) {
                NDList predictions = trainer.evaluate(batch.getData());
                for (Evaluator e : evaluators) {
                    e.updateAccumulator(KEY, batch.getLabels(), predictions);
                }
            }
        }
        Map<String, Double> metrics = new LinkedHashMap<>();
        for (Evaluator e : evaluators) {
            metrics.put(e.getName(), (double) e.getAccumulator(KEY));
            e.resetAccumulator(KEY);
        }
        return new Evaluation(metrics.get(trainer.getLoss().getName()), Map.copyOf(metrics));
    }

    /** The value of the evaluator called {@code name}, e.g. {@code "Accuracy"}; NaN when there is none. */
    public double metric(String name) {
        return metrics.getOrDefault(name, Double.NaN);
    }
}
