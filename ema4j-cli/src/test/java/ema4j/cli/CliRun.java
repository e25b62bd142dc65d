package ema4j.cli;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import picocli.CommandLine;

/** Runs the ema4j command line in this JVM and keeps what it printed. */
record CliRun(int exitCode, String out, String err) {
    static final Path SUBSET = Path.of("../testdata/fashion-mnist-subset");

    static CliRun of(String... args) {
        CommandLine cl = Ema4j.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new CliRun(code, out.toString(), err.toString());
    }
}
