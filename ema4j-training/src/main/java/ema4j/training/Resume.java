package ema4j.training;

import static ema4j.core.internal.Preconditions.requireArgument;

import java.nio.file.Path;

/**
 * Where a {@link TrainingLoop} starts: afresh, from the newest checkpoint of its directory, or from a given checkpoint.
 *
 * <p>None of them deletes a checkpoint the loop did not write: a fresh start into a directory that holds checkpoints
 * is refused, and so is a resume from a checkpoint older than the newest one there (training on from it would
 * prune the newer ones).
 */
public sealed interface Resume {
    /** Starts afresh; the checkpoint directory must hold no checkpoints. */
    static Resume none() {
        return Fresh.INSTANCE;
    }

    /** Resumes from the newest complete checkpoint of the loop's checkpoint directory; there must be one. */
    static Resume latest() {
        return Latest.REQUIRED;
    }

    /**
     * Resumes from the newest complete checkpoint when the checkpoint directory has one, else starts afresh: the
     * choice for a job that may be killed and started again with the same command.
     */
    static Resume latestIfAny() {
        return Latest.IF_ANY;
    }

    /**
     * Resumes from the checkpoint in {@code directory}, which must be the newest of the loop's checkpoint directory,
     * or come from elsewhere into a checkpoint directory that holds none.
     */
    static Resume from(Path directory) {
        requireArgument(directory != null, "the checkpoint to resume", "non-null", null);
        return new From(directory);
    }

    /** A fresh start. */
    enum Fresh implements Resume {
        /** The only one. */
        INSTANCE;

        @Override
        public String toString() {
            return "none";
        }
    }

    /** The newest checkpoint of the loop's directory. */
    enum Latest implements Resume {
        /** There must be one. */
        REQUIRED,
        /** Start afresh when there is none. */
        IF_ANY;

        @Override
        public String toString() {
            return this == REQUIRED ? "latest" : "latest if any";
        }
    }

    /**
     * A given checkpoint.
     *
     * @param directory the checkpoint's directory
     */
    record From(Path directory) implements Resume {
        @Override
        public String toString() {
            return directory.toString();
        }
    }
}
