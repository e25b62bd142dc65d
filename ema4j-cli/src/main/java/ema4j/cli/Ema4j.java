package ema4j.cli;

import ema4j.demo.data.DataMissingException;
import ema4j.demo.data.IdxFormatException;
import ema4j.core.Ema4jVersion;
import ema4j.io.DirectoryLock;
import ema4j.io.checkpoint.CheckpointFormatException;
import ema4j.io.posthoc.SnapshotFormatException;
import ema4j.io.safetensors.SafetensorsFormatException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code ema4j} command: train, schedule, evaluate, compare, inspect, export, import, posthoc, recalibrate-bn and
 * diffusion.
 */
@Command(name = "ema4j", mixinStandardHelpOptions = true, versionProvider = Ema4j.Version.class,
        description = "Exponential moving average of model weights for DJL: train and compare raw vs EMA weights.",
        subcommands = {TrainCommand.class, ScheduleCommand.class, EvaluateCommand.class, CompareCommand.class,
                InspectCommand.class, ExportCommand.class, ImportCommand.class, PostHocCommand.class,
                RecalibrateBnCommand.class, DiffusionCommand.class})
public final class Ema4j implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** A command line with ema4j's error handling: bad input gives one line on stderr and exit code 2. */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Ema4j()).setCaseInsensitiveEnumValuesAllowed(true);
        cl.setExecutionExceptionHandler((e, commandLine, parseResult) -> {
            Throwable cause = e instanceof UncheckedIOException unchecked ? unchecked.getCause() : e;
            if (cause instanceof IOException io) {
                commandLine.getErr().println("ema4j: " + inWords(io));
                return 2;
            }
            if (e instanceof IllegalArgumentException || e instanceof DataMissingException
                    || e instanceof IdxFormatException || e instanceof CheckpointFormatException
                    || e instanceof SnapshotFormatException || e instanceof DirectoryLock.InUseException
                    || e instanceof SafetensorsFormatException
                    || e instanceof ema4j.core.NonFiniteWeightsException) {
                commandLine.getErr().println("ema4j: " + e.getMessage());
                return 2;
            }
            throw e;
        });
        cl.setParameterExceptionHandler((e, args) -> {
            e.getCommandLine().getErr().println("ema4j: " + e.getMessage()
                    + " (see 'ema4j " + e.getCommandLine().getCommandName() + " --help')");
            return 2;
        });
        return cl;
    }

    /**
     * A file system failure in words, with the path: Java's own messages for these are the bare path ("/proc/foo")
     * or the operating system's terse reason.
     */
    static String inWords(IOException e) {
        if (e instanceof NoSuchFileException missing) {
            return "no such file or directory: " + missing.getFile();
        }
        if (e instanceof AccessDeniedException denied) {
            return "permission denied: " + denied.getFile() + " (a read-only or protected location?)";
        }
        if (e instanceof FileAlreadyExistsException exists) {
            // what Files.createDirectories says of a file where a directory should be
            return java.nio.file.Files.isDirectory(java.nio.file.Path.of(exists.getFile()))
                    ? exists.getFile() + " is a directory where a file is expected"
                    : "not a directory: " + exists.getFile();
        }
        if (e instanceof NotDirectoryException notDirectory) {
            return "not a directory: " + notDirectory.getFile();
        }
        if (e instanceof FileSystemException failed) {
            return (failed.getReason() == null ? "file system error" : failed.getReason()) + ": " + failed.getFile()
                    + (failed.getOtherFile() == null ? "" : " -> " + failed.getOtherFile());
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /** {@code ema4j --version}: the library's version, as the build wrote it from the POM. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            return new String[] {Ema4jVersion.label()};
        }
    }

    /** Runs the command line and exits with its code. */
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
