package ema4j.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import ema4j.cli.report.Plots;
import ema4j.core.schedule.DecaySchedule;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code ema4j schedule}: the decay table of a schedule, from the schedule's own formula. */
@Command(name = "schedule", mixinStandardHelpOptions = true,
        description = "Print the decay of a schedule at given updates, and where it crosses 0.9 / 0.99 / 0.999 /"
                + " 0.9999.")
final class ScheduleCommand implements Callable<Integer> {
    private static final double[] CROSSINGS = {0.9, 0.99, 0.999, 0.9999};

    @Spec
    CommandSpec spec;

    @Mixin
    ScheduleOptions schedule = new ScheduleOptions();

    @Option(names = "--at", split = ",", paramLabel = "UPDATES",
            description = "Updates to show, comma-separated. Default: 0,1000,10000,100000,1000000.")
    List<Long> at = List.of(0L, 1_000L, 10_000L, 100_000L, 1_000_000L);

    @Option(names = "--json", description = "Print JSON instead of a table.")
    boolean json;

    @Option(names = "--plot", paramLabel = "FILE", description = "Also write a PNG plot of the decay curve.")
    Path plot;

    @Override
    public Integer call() throws Exception {
        DecaySchedule s = schedule.schedule();
        for (long t : at) {
            if (t < 0) {
                throw new IllegalArgumentException("--at must be >= 0, was " + t);
            }
        }
        List<Map<String, Object>> rows = new ArrayList<>();
        TreeSet<Long> updates = new TreeSet<>(at);
        Map<Long, String> notes = new LinkedHashMap<>();
        for (double target : CROSSINGS) {
            long first = s.firstUpdateReaching(target);
            if (first >= 0) {
                updates.add(first);
                notes.merge(first, "first >= " + target, (a, b) -> a + ", " + b);
            }
        }
        for (long t : updates) {
            Map<String, Object> row = new LinkedHashMap<>();
            double d = s.decayAt(t);
            row.put("update", t);
            row.put("decay", d);
            row.put("horizon", d >= 1 ? null : 1 / (1 - d));
            row.put("note", notes.getOrDefault(t, ""));
            rows.add(row);
        }
        if (json) {
            Map<String, Object> out = new LinkedHashMap<>();
            out.put("schedule", s.toString());
            out.put("rows", rows);
            spec.commandLine().getOut().println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT)
                    .writeValueAsString(out));
        } else {
            var out = spec.commandLine().getOut();
            out.println(s);
            out.println("(update n uses the decay after n earlier updates; horizon = 1/(1-decay) updates)");
            out.printf("%12s  %-12s  %-12s  %s%n", "update", "decay", "horizon", "");
            for (Map<String, Object> row : rows) {
                Object horizon = row.get("horizon");
                out.printf("%12d  %-12.8f  %-12s  %s%n", row.get("update"), row.get("decay"),
                        horizon == null ? "inf" : String.format("%.1f", (Double) horizon), row.get("note"));
            }
        }
        if (plot != null) {
            long last = Math.max(updates.last(), 10);
            int points = 400;
            long[] xs = new long[points];
            double[] ys = new double[points];
            for (int i = 0; i < points; i++) {
                xs[i] = Math.max(1, Math.round(Math.pow(last, i / (double) (points - 1))));
                ys[i] = s.decayAt(xs[i]);
            }
            Plots.decaySchedule(xs, ys, s.toString(), plot);
        }
        return 0;
    }
}
