package com.example.ema4j;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The documentation's Java is compiled and tested code: every Java block of README.md and docs/*.md is quoted from a
 * class of examples/.
 */
class ReadmeJavaTest {
    private static final Path README = Path.of("../README.md");
    private static final Path SOURCES = Path.of("src/main/java/com/example/ema4j");

    @Test
    void everyJavaBlockOfTheReadmeIsQuotedWordForWordFromTheExamples() throws IOException {
        List<String> blocks = javaBlocks(Files.readAllLines(README));
        assertThat(blocks).as("Java blocks in README.md").isNotEmpty();
        assertThat(blocks.get(0)).as("the quick start").contains("EmaModel.track(", "trainer.step();", "ema.step();",
                "ema.swapIn()");
        List<String> sources = new ArrayList<>();
        try (Stream<Path> files = Files.list(SOURCES)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".java")).toList()) {
                sources.add(Files.readString(file));
            }
        }
        try (Stream<Path> docs = Files.list(Path.of("../docs"))) {
            for (Path doc : docs.filter(f -> f.toString().endsWith(".md")).sorted().toList()) {
                blocks.addAll(javaBlocks(Files.readAllLines(doc)));
            }
        }
        for (String block : blocks) {
            // the README drops the four spaces that indent the members of a class
            String asInTheClass = block.lines().map(line -> line.isEmpty() ? line : "    " + line)
                    .collect(Collectors.joining("\n", "", "\n"));
            assertThat(sources).as("a class of examples/ holding this README block:%n%s", block)
                    .anyMatch(source -> source.contains(asInTheClass));
        }
    }

    /** Every fenced Java block, without its fences. */
    private static List<String> javaBlocks(List<String> lines) {
        List<String> blocks = new ArrayList<>();
        for (int open = lines.indexOf("```java"); open >= 0; ) {
            int close = lines.subList(open + 1, lines.size()).indexOf("```") + open + 1;
            assertThat(close).as("a closing fence for the block at line %d", open + 1).isGreaterThan(open);
            blocks.add(String.join("\n", lines.subList(open + 1, close)) + "\n");
            int next = lines.subList(close + 1, lines.size()).indexOf("```java");
            open = next < 0 ? -1 : next + close + 1;
        }
        return blocks;
    }
}
