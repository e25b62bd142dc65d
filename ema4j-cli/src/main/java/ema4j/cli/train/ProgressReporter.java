package ema4j.cli.train;

import ema4j.io.checkpoint.Checkpoint;
import ema4j.training.Resume;
import ema4j.training.TrainingLoop;
import ema4j.training.TrainingProgress;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;

/**
 * Training progress for a person: a one-line bar redrawn in place on a terminal, plain log lines (one per 5% of the
 * run) when the output is a file or a pipe.
 */
public final class ProgressReporter {
    private final PrintStream out;
    private final boolean terminal;
    private final long totalSteps;
    private final long startNanos = System.nanoTime();
    private long lastPlainPercent = -1;

    /**
     * @param out where to print
     * @param terminal whether {@code out} is an interactive terminal (redraw in place)
     * @param totalSteps optimizer steps of the whole run, {@code >= 1}
     */
    public ProgressReporter(PrintStream out, boolean terminal, long totalSteps) {
        this.out = out;
        this.terminal = terminal;
        this.totalSteps = Math.max(1, totalSteps);
    }

    /** Reports the state after {@code step} optimizer steps. */
    public void step(long step, int epoch, int epochs, double loss, long examples) {
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        double rate = seconds > 0 ? examples / seconds : 0;
        double fraction = step / (double) totalSteps;
        long etaSeconds = fraction > 0 ? Math.round(seconds / fraction - seconds) : 0;
        String text = String.format("step %d/%d  epoch %d/%d  loss %.4f  %.0f examples/s  ETA %s", step, totalSteps,
                epoch, epochs, loss, rate, format(Duration.ofSeconds(etaSeconds)));
        if (terminal) {
            int width = 24;
            int filled = (int) Math.min(width, Math.round(fraction * width));
            out.print("\r[" + "#".repeat(filled) + "-".repeat(width - filled) + "] " + text + "   ");
            out.flush();
        } else {
            long percent = (long) Math.floor(fraction * 20) * 5;
            if (percent != lastPlainPercent) {
                lastPlainPercent = percent;
                out.println(String.format("%3d%% ", percent) + text);
            }
        }
    }

    /** Prints a line of its own, below the bar. */
    public void line(String text) {
        if (terminal) {
            out.print("\r\033[2K");
        }
        out.println(text);
    }

    /** Ends the bar's line. */
    public void finish() {
        if (terminal) {
            out.println();
        }
    }

    private static String format(Duration d) {
        return d.toHours() > 0 ? String.format("%dh%02dm", d.toHours(), d.toMinutesPart())
                : String.format("%dm%02ds", d.toMinutesPart(), d.toSecondsPart());
    }

    /** A training loop's listener that reports a resume and every step here; evaluations are the caller's. */
    public TrainingLoop.Listener listener() {
        return new TrainingLoop.Listener() {
            @Override
            public void onResume(Checkpoint checkpoint) {
                line("resumed from " + checkpoint.directory() + " at step " + checkpoint.step());
            }

            @Override
            public void onStep(TrainingProgress p) {
                step(p.step(), p.epoch(), p.epochs(), p.loss(), p.examples());
            }
        };
    }

    /** The start {@code --resume} names: none (null), {@code latest}, or a checkpoint directory. */
    public static Resume resume(String option) {
        return option == null ? Resume.none() : option.equals("latest") ? Resume.latest() : Resume.from(Path.of(option));
    }
}
