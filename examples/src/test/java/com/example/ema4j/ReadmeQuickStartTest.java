package com.example.ema4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The README's quick start is compiled and tested code: its Java block is quoted from QuickStart.java. */
class ReadmeQuickStartTest {
    private static final Path README = Path.of("../README.md");
    private static final Path QUICK_START = Path.of("src/main/java/com/example/ema4j/QuickStart.java");

    @Test
    void theReadmesQuickStartBlockIsQuotedWordForWordFromQuickStartJava() throws IOException {
        String block = javaBlockUnder(Files.readAllLines(README), "### Quick start");
        assertThat(block).contains("EmaModel.track(", "trainer.step();", "ema.step();", "ema.swapIn()");

        // the README drops the four spaces that indent the members of the class
        String asInTheClass = block.lines().map(line -> line.isEmpty() ? line : "    " + line)
                .collect(Collectors.joining("\n", "", "\n"));
        assertThat(Files.readString(QUICK_START)).contains(asInTheClass);
    }

    /** The first fenced Java block after {@code heading}, without its fences. */
    private static String javaBlockUnder(List<String> lines, String heading) {
        int at = lines.indexOf(heading);
        assertThat(at).as("README.md has a line \"%s\"", heading).isNotNegative();
        int open = at + 1;
        while (open < lines.size() && !lines.get(open).equals("```java")) {
            assertThat(lines.get(open)).as("a heading before the Java block under %s", heading).doesNotStartWith("#");
            open++;
        }
        int close = lines.subList(open, lines.size()).indexOf("```") + open;
        assertThat(open).as("a ```java block under %s", heading).isLessThan(close);
        return String.join("\n", lines.subList(open + 1, close)) + "\n";
    }
}
