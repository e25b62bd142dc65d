package ema4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * Keeps the documentation true to the command: docs/CLI.md is the help of every command as the code prints it, every
 * {@code ./ema4j} command line in README.md and docs/*.md parses, and every option the docs scripts pass exists.
 */
class DocumentationTest {
    private static final Path ROOT = Path.of("..");
    private static final Path REFERENCE = ROOT.resolve("docs/CLI.md");
    private static final String REGENERATE = "mvn -pl ema4j-cli -am verify -Dtest=DocumentationTest"
            + " -Dsurefire.failIfNoSpecifiedTests=false -Dema4j.writeCliReference=true";

    /** Every command's qualified name and its help, the root first, subcommands depth first. */
    private static Map<String, String> helps() {
        Map<String, String> helps = new LinkedHashMap<>();
        collect(Ema4j.commandLine(), helps);
        return helps;
    }

    private static void collect(CommandLine command, Map<String, String> helps) {
        StringWriter text = new StringWriter();
        command.usage(new PrintWriter(text), CommandLine.Help.Ansi.OFF);
        helps.put(command.getCommandSpec().qualifiedName(), text.toString().stripTrailing());
        for (CommandLine sub : command.getSubcommands().values()) {
            if (!sub.getCommandSpec().usageMessage().hidden() && !sub.getCommandName().equals("help")) {
                collect(sub, helps);
            }
        }
    }

    private static String reference() {
        StringBuilder md = new StringBuilder("# The ema4j command\n\nThe help of every command, as `ema4j <command>"
                + " --help` prints it. Generated from the code by `DocumentationTest`; regenerate with\n`" + REGENERATE
                + "`.\n");
        for (Map.Entry<String, String> help : helps().entrySet()) {
            md.append("\n## ").append(help.getKey()).append("\n\n```text\n").append(help.getValue()).append("\n```\n");
        }
        return md.toString();
    }

    @Test
    void theCliReferenceIsTheHelpTheCommandsPrint() throws IOException {
        String expected = reference();
        if (Boolean.getBoolean("ema4j.writeCliReference")) {
            Files.writeString(REFERENCE, expected);
        }
        assertThat(Files.exists(REFERENCE) ? Files.readString(REFERENCE) : "")
                .as("docs/CLI.md is out of date; regenerate it with %s", REGENERATE).isEqualTo(expected);
    }

    /** The {@code ./ema4j ...} lines of code blocks in README.md and docs/*.md, without comments. */
    private static List<String> documentedCommands() throws IOException {
        List<Path> files = new ArrayList<>(List.of(ROOT.resolve("README.md")));
        try (Stream<Path> docs = Files.list(ROOT.resolve("docs"))) {
            docs.filter(p -> p.toString().endsWith(".md")).sorted().forEach(files::add);
        }
        List<String> commands = new ArrayList<>();
        for (Path file : files) {
            boolean inCode = false;
            for (String line : Files.readAllLines(file)) {
                if (line.startsWith("```")) {
                    inCode = !inCode;
                } else if (inCode && line.startsWith("./ema4j ")) {
                    commands.add(line.replaceFirst("\\s+#.*$", "").strip());
                }
            }
        }
        return commands;
    }

    @Test
    void everyCommandLineInTheDocsParses() throws IOException {
        List<String> commands = documentedCommands();
        assertThat(commands).as("./ema4j lines in README.md and docs/*.md").hasSizeGreaterThan(3);
        for (String command : commands) {
            String[] args = command.substring("./ema4j ".length()).split("\\s+");
            try {
                Ema4j.commandLine().parseArgs(args);
            } catch (CommandLine.ParameterException e) {
                throw new AssertionError("a documented command does not parse: " + command + ": " + e.getMessage(), e);
            }
        }
    }

    @Test
    void everyOptionTheDocsScriptsPassExists() throws IOException {
        Map<String, CommandLine> commands = new LinkedHashMap<>();
        index(Ema4j.commandLine(), commands);
        Pattern invocation = Pattern.compile("ema4j ((?:[a-z-]+ ?)+)");
        Pattern option = Pattern.compile("(?<![\\w-])(--[a-z][a-z0-9-]*)");
        List<Path> scripts;
        try (Stream<Path> docs = Files.list(ROOT.resolve("docs"))) {
            scripts = docs.filter(p -> p.toString().endsWith(".sh")).sorted().toList();
        }
        assertThat(scripts).isNotEmpty();
        // a script that others source (the shared set-ups) is checked as part of each script that sources it
        Pattern sources = Pattern.compile("source \"\\$root/docs/([\\w.-]+)\"");
        Map<String, String> texts = new LinkedHashMap<>();
        for (Path script : scripts) {
            texts.put(script.getFileName().toString(), Files.readString(script));
        }
        TreeSet<String> sourced = new TreeSet<>();
        texts.values().forEach(text -> sources.matcher(text).results().forEach(r -> sourced.add(r.group(1))));
        for (Path script : scripts) {
            if (sourced.contains(script.getFileName().toString())) {
                continue;
            }
            StringBuilder all = new StringBuilder(texts.get(script.getFileName().toString()));
            sources.matcher(all.toString()).results().forEach(r -> all.append('\n').append(texts.get(r.group(1))));
            String text = all.toString();
            // the commands a script runs, and every option it writes anywhere
            TreeSet<String> known = new TreeSet<>();
            Matcher m = invocation.matcher(text);
            while (m.find()) {
                String[] words = m.group(1).strip().split(" ");
                CommandLine command = null;
                String name = "";
                for (String word : words) {
                    String longer = name.isEmpty() ? word : name + " " + word;
                    if (commands.containsKey(longer)) {
                        name = longer;
                        command = commands.get(longer);
                    }
                }
                if (command != null) {
                    command.getCommandSpec().options().forEach(o -> known.addAll(List.of(o.names())));
                }
            }
            assertThat(known).as("%s runs an ema4j command", script.getFileName()).isNotEmpty();
            Matcher o = option.matcher(text);
            while (o.find()) {
                assertThat(known).as("%s passes %s, which none of the commands it runs has", script.getFileName(),
                        o.group(1)).contains(o.group(1));
            }
        }
    }

    /**
     * Every public type, constructor, method and field of a public type in the library modules has a javadoc comment
     * (javadoc's own check for this also asks an {@code @param} for every parameter, which the house style does not);
     * an override inherits its documentation.
     */
    @Test
    void everyPublicMemberOfTheLibraryHasAJavadocComment() throws IOException {
        Pattern publicType = Pattern.compile("public (final |abstract |sealed |non-sealed )*(class|interface|enum"
                + "|record|@interface) .*");
        List<String> undocumented = new ArrayList<>();
        int checked = 0;
        for (String module : List.of("ema4j-core", "ema4j-io", "ema4j-djl", "ema4j-training", "ema4j-demo")) {
            List<Path> sources;
            try (Stream<Path> files = Files.walk(ROOT.resolve(module).resolve("src/main"))) {
                sources = files.filter(f -> f.toString().endsWith(".java")).sorted().toList();
            }
            for (Path source : sources) {
                List<String> lines = Files.readAllLines(source);
                if (lines.stream().noneMatch(line -> publicType.matcher(line).matches())) {
                    continue;
                }
                for (int i = 0; i < lines.size(); i++) {
                    if (!lines.get(i).stripLeading().startsWith("public ")) {
                        continue;
                    }
                    int above = i - 1;
                    boolean override = false;
                    while (above >= 0 && lines.get(above).stripLeading().startsWith("@")) {
                        override |= lines.get(above).contains("Override");
                        above--;
                    }
                    checked++;
                    if (!override && (above < 0 || !lines.get(above).strip().endsWith("*/"))) {
                        undocumented.add(ROOT.relativize(source) + ":" + (i + 1) + " " + lines.get(i).strip());
                    }
                }
            }
        }
        assertThat(checked).as("public declarations checked").isGreaterThan(300);
        assertThat(undocumented).as("public declarations without a javadoc comment").isEmpty();
    }

    private static void index(CommandLine command, Map<String, CommandLine> commands) {
        String qualified = command.getCommandSpec().qualifiedName(" ");
        commands.put(qualified.substring(qualified.indexOf(' ') + 1), command);
        command.getSubcommands().values().forEach(sub -> index(sub, commands));
    }
}
