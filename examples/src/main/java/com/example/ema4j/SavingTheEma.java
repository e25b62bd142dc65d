package com.example.ema4j;

import ai.djl.Model;
import ai.djl.nn.Block;
import ema4j.core.schedule.Preset;
import ema4j.djl.EmaModel;
import ema4j.io.EmaFile;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Keeping an EMA past the end of a run: its complete state, to resume it, or a model with its weights. The README
 * quotes these.
 */
public final class SavingTheEma {
    private SavingTheEma() {}

    /** Saves the EMA's complete state to {@code file}, a safetensors file PyTorch reads as a state dict. */
    public static void save(EmaModel ema, Path file) throws IOException {
        EmaFile.save(ema.snapshot(), file);
    }

    /** Resumes the EMA saved in {@code file} onto {@code block}, bit for bit, whatever the optimizer. */
    public static EmaModel resume(Block block, Path file) throws IOException {
        return EmaModel.builder(Preset.SHORT.schedule()).resume(block, EmaFile.load(file));
    }

    /** Saves a model holding the EMA weights, which plain DJL loads into a fresh {@link QuickStart#mlp()}. */
    public static void saveEmaModel(EmaModel ema, Path directory) throws IOException {
        try (Model averaged = ema.averagedModel("mlp-ema", QuickStart::mlp)) {
            averaged.save(directory, "mlp-ema");
        }
    }
}
