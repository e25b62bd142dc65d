package ema4j.bench;

import ema4j.core.EmaState;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Locale;

/**
 * The Java peer of {@code bench/turns.py}, which times the Java, C and PyTorch updates in turns across processes:
 * turns seconds apart compare like with like on a shared machine whose speed drifts over minutes.
 *
 * <p>Sets up {@link TimedUpdates} for one parameter set and thread count, warms its updates, prints
 * {@code ready} followed by {@link TimedUpdates#NAMES}, and then answers each line {@code UPDATE N} of standard input
 * with the fastest of {@code N} runs of that update in milliseconds; ends at {@code quit} or the end of input. Errors
 * go to standard error and end the process with status 1.
 *
 * <p>Run: {@code java --add-modules jdk.incubator.vector -Xmx4g -cp ema4j-bench/target/benchmarks.jar
 * ema4j.bench.TurnPeer SET THREADS}.
 */
public final class TurnPeer {
    private static final int WARM_UP = 20;

    private TurnPeer() {}

    /** Serves turns for the set and thread count given as arguments. */
    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: TurnPeer resnet50|100m THREADS");
            System.exit(2);
        }
        System.setProperty("ai.djl.pytorch.num_threads", "1");
        System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        try (TimedUpdates updates = new TimedUpdates(args[0], Integer.parseInt(args[1]))) {
            for (String name : TimedUpdates.NAMES) {
                fastest(updates.update(name), WARM_UP);
            }
            System.err.println("TurnPeer: " + EmaState.kernel());
            out.println("ready " + String.join(" ", TimedUpdates.NAMES));
            for (String line = in.readLine(); line != null && !line.equals("quit"); line = in.readLine()) {
                String[] parts = line.trim().split(" ");
                if (parts.length != 2 || !parts[1].matches("[1-9][0-9]{0,5}")) {
                    throw new IllegalArgumentException("a turn must be 'UPDATE N' with N >= 1, was '" + line + "'");
                }
                double ms = fastest(updates.update(parts[0]), Integer.parseInt(parts[1]));
                out.println(String.format(Locale.ROOT, "%.4f", ms));
            }
        } catch (RuntimeException e) {
            System.err.println("TurnPeer: " + e.getMessage());
            System.exit(1);
        }
    }

    /** The fastest of {@code times} runs of an update, in milliseconds. */
    private static double fastest(Runnable update, int times) {
        long best = Long.MAX_VALUE;
        for (int k = 0; k < times; k++) {
            long start = System.nanoTime();
            update.run();
            best = Math.min(best, System.nanoTime() - start);
        }
        return best / 1e6;
    }
}
