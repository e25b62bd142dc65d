package ema4j.djl;

import static ema4j.core.internal.Preconditions.requireArgument;

import ai.djl.training.EasyTrain;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Batch;
import ai.djl.training.dataset.Dataset;
import ai.djl.translate.TranslateException;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * diffusion_policy's training loop for DJL: {@code EasyTrain.fit} with the EMA updated after every optimizer step and
 * validation on both the raw and the EMA weights.
 *
 * <p>DJL's listener events come too early for an EMA ({@code onTrainingBatch} fires before {@code trainer.step()}),
 * so this loop calls {@link EmaModel#step()} itself, right after {@code trainer.step()}. The trainer's listeners are
 * notified as {@code EasyTrain.fit} notifies them.
 */
public final class EmaTraining {
    private EmaTraining() {}

    /**
     * Trains for {@code epochs} epochs; after each one evaluates {@code validation} with the raw weights and, swapped
     * in, with the EMA weights.
     *
     * @param trainer an initialized trainer over the block {@code ema} tracks
     * @param ema the EMA of the trainer's block
     * @param epochs epochs to run, {@code >= 1}
     * @param train training data
     * @param validation validation data, or null for none
     * @return one result per epoch (empty evaluations when there is no validation data)
     */
    public static List<EpochResult> fit(Trainer trainer, EmaModel ema, int epochs, Dataset train, Dataset validation)
            throws IOException, TranslateException {
        requireArgument(epochs >= 1, "epochs", ">= 1", epochs);
        requireArgument(trainer.getModel().getBlock() == ema.block(), "ema", "the EMA of the trainer's block",
                ema.block());
        List<EpochResult> results = new ArrayList<>();
        for (int epoch = 1; epoch <= epochs; epoch++) {
            for (Batch batch : trainer.iterateDataset(train)) {
                try (batch) {
                    EasyTrain.trainBatch(trainer, batch);
                    trainer.step();
                    ema.step();
                }
            }
            results.add(validate(trainer, ema, epoch, validation));
            trainer.notifyListeners(listener -> listener.onEpoch(trainer));
        }
        return results;
    }

    /** Evaluates {@code validation} with the raw weights and with the EMA weights swapped in. */
    static EpochResult validate(Trainer trainer, EmaModel ema, int epoch, Dataset validation)
            throws IOException, TranslateException {
        Evaluation raw = null;
        Evaluation averaged = null;
        if (validation != null) {
            raw = Evaluation.of(trainer, validation);
            EmaModel.Swap emaWeights = ema.swapIn();
            try (emaWeights) {
                averaged = Evaluation.of(trainer, validation);
            }
        }
        EmaStatus status = ema.status();
        return new EpochResult(epoch, raw, averaged, status.updates(), status.lastDecay());
    }
}
