package ema4j.djl;

import ai.djl.training.Trainer;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.listener.TrainingListener;
import ai.djl.training.listener.TrainingListenerAdapter;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Keeps an EMA inside {@code EasyTrain.fit} and validates raw and EMA weights after every epoch.
 *
 * <p>With an {@link EmaOptimizer} ({@link #validating}), the optimizer steps the EMA inside every
 * {@code trainer.step()} and this listener only validates: the EMA is never behind. Otherwise, limits, from DJL's
 * event order: {@code onTrainingBatch} fires before {@code trainer.step()}, so this listener
 * averages the weights of step t at the next {@code onTrainingBatch} (when they are still the post-step-t weights)
 * and the last step of an epoch in {@code onEpoch}; the EMA is therefore one step behind between batches, never
 * wrong. {@code onTrainingBegin} fires before the block is initialized, so tracking starts at the first batch, from
 * the initial weights. It validates on its own dataset in {@code onEpoch}, after {@code EasyTrain}'s own validation
 * of the raw weights. Prefer {@link EmaTraining#fit}, which has none of these limits.
 */
public final class EmaTrainingListener extends TrainingListenerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(EmaTrainingListener.class);

    private final Function<ai.djl.nn.Block, EmaModel> tracker;
    private final EmaOptimizer optimizer;
    private final Dataset validation;
    private final List<EpochResult> results = new ArrayList<>();
    private EmaModel ema;
    private boolean pendingStep;
    private int epoch;

    /**
     * @param tracker starts the EMA of the trainer's block, e.g. {@code block -> EmaModel.track(block, schedule)}
     * @param validation data to validate raw and EMA weights on after each epoch, or null for none
     */
    public EmaTrainingListener(Function<ai.djl.nn.Block, EmaModel> tracker, Dataset validation) {
        if (tracker == null) {
            throw new IllegalArgumentException("tracker must be non-null, was null");
        }
        this.tracker = tracker;
        this.optimizer = null;
        this.validation = validation;
    }

    private EmaTrainingListener(EmaOptimizer optimizer, Dataset validation) {
        this.tracker = null;
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
        if (optimizer == null) {
            throw new IllegalArgumentException("optimizer must be non-null, was null");
        }
        return new EmaTrainingListener(optimizer, validation);
    }

    @Override
    public void onTrainingBatch(Trainer trainer, TrainingListener.BatchData batchData) {
        if (optimizer != null) {
            return;
        }
        if (ema == null) {
            ema = tracker.apply(trainer.getModel().getBlock());
        } else if (pendingStep) {
            ema.step();
        }
        pendingStep = true;
    }

    @Override
    public void onEpoch(Trainer trainer) {
        flush();
        epoch++;
        if (optimizer != null) {
            ema = optimizer.ema();
        }
        if (ema == null) {
            return;
        }
        try {
            EpochResult result = EmaTraining.validate(trainer, ema, epoch, validation);
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

    @Override
    public void onTrainingEnd(Trainer trainer) {
        flush();
    }

    private void flush() {
        if (ema != null && pendingStep) {
            ema.step();
            pendingStep = false;
        }
    }

    /** The EMA: with an {@link EmaOptimizer}, the one attached to it; else from the first batch on, null before. */
    public EmaModel ema() {
        return optimizer != null ? optimizer.ema() : ema;
    }

    /** One result per finished epoch. */
    public List<EpochResult> results() {
        return List.copyOf(results);
    }
}
