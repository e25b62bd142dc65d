package ema4j.cli.train;

import static ema4j.core.internal.Preconditions.requireArgument;

import ema4j.demo.data.FashionMnistFiles;
import ema4j.core.posthoc.PowerFunctionProfile;
import ema4j.core.schedule.DecaySchedule;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Everything one training run on Fashion-MNIST needs; validated once, here.
 *
 * @param files where the data is
 * @param out the output directory
 * @param model the classifier to train
 * @param dropout the ViT's dropout rate in [0, 1); 0 for the CNN and the ResNet, which have none
 * @param epochs passes over the training set, {@code >= 1}
 * @param batchSize examples per optimizer step, {@code >= 1}
 * @param optimizer SGD (with momentum) or Adam
 * @param learningRate the base learning rate, {@code > 0}
 * @param learningRateSchedule constant, or cosine (decays to 1% of the base over the run)
 * @param momentum SGD momentum in {@code [0, 1)}
 * @param seed the random seed of initialization and shuffling
 * @param threads PyTorch intra-op threads, {@code >= 1}
 * @param schedule the EMA decay schedule, or null for no EMA
 * @param scheduleLabel a short name of the schedule for tables
 * @param evalEvery evaluate every this many steps (and at every epoch's end), {@code >= 1}
 * @param checkpointEvery save a checkpoint every this many steps, 0 for only at the end
 * @param trainLimit use only the first N training images, 0 for all
 * @param testLimit use only the first N test images, 0 for all
 * @param keepLast complete checkpoints to keep, {@code >= 1}
 * @param resume {@code latest}, a checkpoint directory, or null to start afresh
 * @param posthocEvery record post-hoc EMA snapshots (OUT/posthoc) every this many steps and at the end, 0 for none
 * @param posthocSigmaRels the sigma_rel of each power-function EMA recorded for post-hoc reconstruction
 */
public record TrainingSettings(FashionMnistFiles files, Path out, FashionModel model, double dropout, int epochs,
        int batchSize, OptimizerKind optimizer, double learningRate, LearningRateSchedule learningRateSchedule,
        double momentum, long seed, int threads, DecaySchedule schedule, String scheduleLabel, int evalEvery,
        int checkpointEvery, int trainLimit, int testLimit, int keepLast, String resume, int posthocEvery,
        List<Double> posthocSigmaRels) {

    /** Validates every value, with the option's name in the message. */
    public TrainingSettings {
        requireArgument(out != null && !out.toString().isBlank(), "--out", "a directory's path (an empty one would"
                + " write into the current directory)", "\"" + out + "\"");
        requireArgument(model != null, "--model", "cnn, resnet or vit", null);
        requireArgument(dropout >= 0 && dropout < 1, "--dropout", "in [0, 1)", dropout);
        requireArgument(dropout == 0 || model == FashionModel.VIT, "--dropout", "0 for --model " + model
                + " (only vit has dropout)", dropout);
        requireArgument(epochs >= 1, "--epochs", ">= 1", epochs);
        requireArgument(batchSize >= 1, "--batch-size", ">= 1", batchSize);
        requireArgument(optimizer != null, "--optimizer", "sgd or adam", null);
        requireArgument(learningRate > 0 && Double.isFinite(learningRate), "--lr", "> 0", learningRate);
        requireArgument(learningRateSchedule != null, "--lr-schedule", "constant or cosine", null);
        requireArgument(momentum >= 0 && momentum < 1, "--momentum", "in [0, 1)", momentum);
        requireArgument(threads >= 1, "--threads", ">= 1", threads);
        requireArgument(evalEvery >= 1, "--eval-every", ">= 1", evalEvery);
        requireArgument(checkpointEvery >= 0, "--checkpoint-every", ">= 0", checkpointEvery);
        requireArgument(trainLimit >= 0, "--train-limit", ">= 0", trainLimit);
        requireArgument(testLimit >= 0, "--test-limit", ">= 0", testLimit);
        requireArgument(keepLast >= 1, "--keep-last", ">= 1", keepLast);
        requireArgument(posthocEvery >= 0, "--posthoc-every", ">= 0", posthocEvery);
        posthocSigmaRels = List.copyOf(posthocSigmaRels);
        for (double sigmaRel : posthocSigmaRels) {
            requireArgument(sigmaRel > 0 && sigmaRel <= PowerFunctionProfile.MAX_SIGMA_REL, "--posthoc-sigma-rel",
                    "in (0, " + PowerFunctionProfile.MAX_SIGMA_REL + "]", sigmaRel);
        }
        requireArgument(new java.util.HashSet<>(posthocSigmaRels).size() == posthocSigmaRels.size(),
                "--posthoc-sigma-rel", "distinct values", posthocSigmaRels);
        requireArgument(posthocEvery == 0 || !posthocSigmaRels.isEmpty(), "--posthoc-sigma-rel",
                "at least one value with --posthoc-every", posthocSigmaRels);
    }

    /**
     * The settings that decide the trajectory of training (the model among them), by option name, beside those the
     * training loop compares itself (batch size, seed, training examples, optimizer type): a resume with other values
     * would not continue the run it resumes. The epochs count only with the cosine schedule, whose learning rate they
     * set; with a constant one, more epochs train the same run longer.
     */
    public Map<String, Object> trajectory() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("--model", model.toString());
        if (model == FashionModel.VIT) {
            m.put("--dropout", dropout);
        }
        m.put("--lr", learningRate);
        m.put("--lr-schedule", learningRateSchedule.toString());
        if (learningRateSchedule == LearningRateSchedule.COSINE) {
            m.put("--epochs", epochs);
        }
        m.put("--momentum", momentum);
        m.put("--threads", threads);
        return m;
    }

    /** The settings as a map for metrics.json. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", model.toString());
        m.put("dropout", dropout);
        m.put("epochs", epochs);
        m.put("batch_size", batchSize);
        m.put("optimizer", optimizer.toString());
        m.put("learning_rate", learningRate);
        m.put("learning_rate_schedule", learningRateSchedule.toString());
        m.put("momentum", momentum);
        m.put("seed", seed);
        m.put("threads", threads);
        m.put("ema_schedule", schedule == null ? "none" : schedule.toString());
        m.put("eval_every", evalEvery);
        m.put("train_limit", trainLimit);
        m.put("test_limit", testLimit);
        m.put("posthoc_every", posthocEvery);
        m.put("posthoc_sigma_rel", posthocSigmaRels);
        return m;
    }

    /** The optimizer of a run; written in lower case, as on the command line. */
    public enum OptimizerKind {
        /** SGD with momentum. */
        SGD,
        /** Adam. */
        ADAM;

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** How the learning rate changes over a run; written in lower case, as on the command line. */
    public enum LearningRateSchedule {
        /** The base learning rate throughout. */
        CONSTANT,
        /** Cosine decay from the base to 1% of it at the last step. */
        COSINE;

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }
}
