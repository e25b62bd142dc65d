package ema4j.cli;

import ema4j.cli.train.TrainingSession;
import java.util.Locale;

/** The raw or the EMA weights of a run, as {@code --as} chooses them; written in lower case, as on the command line. */
enum WhichWeights {
    /** The live weights training left. */
    RAW,
    /** The EMA's weights. */
    EMA;

    /** The file name stem of these weights in a run's models directory. */
    String modelName() {
        return this == EMA ? TrainingSession.EMA_NAME : TrainingSession.RAW_NAME;
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}
