package ema4j.djl;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.training.Trainer;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.listener.TrainingListenerAdapter;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Validates the raw and the EMA weights after every epoch of {@code EasyTrain.fit}, the EMA being the one an
 * {@link EmaOptimizer} steps inside every {@code trainer.step()}:
 * <pre>{@code
 * EmaOptimizer optimizer = EmaOptimizer.wrap(Optimizer.adam().build());
 * EmaTrainingListener validation = EmaTrainingListener.validating(optimizer, validationData);
 * Trainer trainer = model.newTrainer(config.optOptimizer(optimizer).addTrainingListeners(validation));
 * trainer.initialize(inputShape);
 * optimizer.attach(EmaModel.track(model.getBlock(), schedule));
 * EasyTrain.fit(trainer, epochs, train, null);
 * }</pre>
 * It validates on its own dataset in {@code onEpoch}, after {@code EasyTrain}'s own validation of the raw weights,
 * and logs both. DJL's listener events cannot step an EMA at the right moment ({@code onTrainingBatch} fires before
 * {@code trainer.step()}), which is why the optimizer does.
 */
public final class EmaTrainingListener extends TrainingListenerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(EmaTrainingListener.class);

    private final EmaOptimizer optimizer;
    private final Dataset validation;
    private final List<EpochResult> results = new ArrayList<>();
    private int epoch;

    private EmaTrainingListener(EmaOptimizer optimizer, Dataset validation) {
        this.optimizer = optimizer;
        this.validation = validation;
    }

    /**
     * A listener that validates the raw and the EMA weights after every epoch, the EMA being the one attached to
     * {@code optimizer}, which steps it.
     *
     * @param validation data to validate on, or null for none
     */
    public static EmaTrainingListener validating(EmaOptimizer optimizer, Dataset validation) {
        requireArgument(optimizer != null, "optimizer", "non-null", null);
        return new EmaTrainingListener(optimizer, validation);
    }

    @Override
    public void onEpoch(Trainer trainer) {
        epoch++;
        EmaModel ema = optimizer.ema();
        if (ema == null) {
            return;
        }
        try {
            EpochResult result = validate(trainer, ema);
            results.add(result);
            if (result.raw() != null) {
                LOG.info("epoch {}: raw loss {} accuracy {}, EMA loss {} accuracy {} (decay {})", epoch,
                        result.raw().loss(), result.raw().metric("Accuracy"), result.ema().loss(),
                        result.ema().metric("Accuracy"), result.decay());
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (TranslateException e) {
            throw new IllegalStateException("validation failed: " + e.getMessage(), e);
        }
    }

    /** Evaluates the validation data with the raw weights and with the EMA weights swapped in. */
    private EpochResult validate(Trainer trainer, EmaModel ema) throws IOException, TranslateException {
        Evaluation raw = null;
        Evaluation averaged = null;
        if (validation != null) {
            raw = Evaluation.of(trainer, validation);
            try (EmaModel.Swap swap = ema.swapIn()) {
                averaged = Evaluation.of(trainer, validation);
            }
        }
        EmaStatus status = ema.status();
        return new EpochResult(epoch, raw, averaged, status.updates(), status.lastDecay());
    }

    /** The EMA attached to the optimizer, or null before one is. */
    public EmaModel ema() {
        return optimizer.ema();
    }

    /** One result per finished epoch in which an EMA was attached. */
    public List<EpochResult> results() {
        return List.copyOf(results);
    }
}
