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
 * <p>Limits, from DJL's event order: {@code onTrainingBatch} fires before {@code trainer.step()}, so this listener
 * averages the weights of step t at the next {@code onTrainingBatch} (when they are still the post-step-t weights)
 * and the last step of an epoch in {@code onEpoch}; the EMA is therefore one step behind between batches, never
 * wrong. {@code onTrainingBegin} fires before the block is initialized, so tracking starts at the first batch, from
 * the initial weights. It validates on its own dataset in {@code onEpoch}, after {@code EasyTrain}'s own validation
 * of the raw weights. Prefer {@link EmaTraining#fit}, which has none of these limits.
 */
public final class EmaTrainingListener extends TrainingListenerAdapter {
    private static final Logger LOG = LoggerFactory.getLogger(EmaTrainingListener.class);

    private final Function<ai.djl.nn.Block, EmaModel> tracker;
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
        this.validation = validation;
    }

    @Override
    public void onTrainingBatch(Trainer trainer, TrainingListener.BatchData batchData) {
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

    /** The EMA, once training has started; null before the first batch. */
    public EmaModel ema() {
        return ema;
    }

    /** One result per finished epoch. */
    public List<EpochResult> results() {
        return List.copyOf(results);
    }
}
