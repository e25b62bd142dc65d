package com.example.ema4j;

import ai.djl.Model;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.training.DefaultTrainingConfig;
import ai.djl.training.Trainer;
import ai.djl.training.dataset.Dataset;
import ai.djl.training.evaluator.Accuracy;
import ai.djl.training.loss.Loss;
import ai.djl.translate.TranslateException;
import ema4j.djl.Evaluation;
import ema4j.training.posthoc.PostHocEma;
import ema4j.training.posthoc.ReconstructedEma;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Choosing the EMA length after training (post-hoc EMA, Karras et al., 2024, EDM2): {@link ResumableTraining} recorded
 * snapshots of two power-function EMAs (sigma_rel 0.05 and 0.10); from them, the EMA of a length that was never
 * tracked is reconstructed, loaded into the model and evaluated.
 *
 * <p>Run it after ResumableTraining with {@code java -cp ... com.example.ema4j.PostHocReconstruction DATA OUT
 * [SIGMA_REL]}.
 */
public final class PostHocReconstruction {
    private PostHocReconstruction() {}

    /** What a reconstruction did: how well the snapshots matched the length asked for, and its test accuracy. */
    public record Result(double sigmaRel, double residual, double amplification, double accuracy) {}

    /** Reconstructs sigma_rel {@code args[2]} (0.07 if not given) from the run in {@code args[1]} and prints it. */
    public static void main(String[] args) throws IOException, TranslateException {
        double sigmaRel = args.length > 2 ? Double.parseDouble(args[2]) : 0.07;
        Result r = run(Path.of(args[0]), Path.of(args[1]), sigmaRel);
        System.out.printf("sigma_rel %.3f: residual %.2e, amplification %.1f, test accuracy %.4f%n", r.sigmaRel(),
                r.residual(), r.amplification(), r.accuracy());
    }

    /** Reconstructs the EMA of {@code sigmaRel} from the snapshots in {@code out/posthoc} and evaluates it. */
    public static Result run(Path data, Path out, double sigmaRel) throws IOException, TranslateException {
        PostHocEma postHoc = PostHocEma.builder(out.resolve("posthoc")).build();
        ReconstructedEma ema = postHoc.reconstructSigmaRel(sigmaRel);
        try (NDManager manager = NDManager.newBaseManager();
                Model model = Model.newInstance("mlp")) {
            Dataset test = FashionMnist.test(manager, data, 100);
            model.setBlock(QuickStart.mlp());
            model.getBlock().initialize(model.getNDManager(), DataType.FLOAT32, QuickStart.INPUT);
            ema.loadInto(model.getBlock());
            try (Trainer trainer = model.newTrainer(new DefaultTrainingConfig(Loss.softmaxCrossEntropyLoss())
                    .addEvaluator(new Accuracy()))) {
                double accuracy = Evaluation.of(trainer, test).metric("Accuracy");
                return new Result(sigmaRel, ema.reconstruction().residual(), ema.reconstruction().amplification(),
                        accuracy);
            }
        }
    }
}
