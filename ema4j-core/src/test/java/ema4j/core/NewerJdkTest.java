package ema4j.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * ema4j is built for Java 17 but runs on newer JDKs, whose Vector API no longer loads from ByteBuffers: there the
 * scalar kernel must take over and give the same bits. Runs {@link UpdateProbe} on a JDK 20 or later when one is
 * installed ({@code EMA4J_NEWER_JDK}, else a {@code /usr/lib/jvm} JDK whose name says 21 or later); skipped, saying
 * so, when there is none.
 */
class NewerJdkTest {

    private static Path newerJdk() throws IOException {
        String configured = System.getenv("EMA4J_NEWER_JDK");
        if (configured != null && !configured.isBlank()) {
            return Path.of(configured);
        }
        Path jvms = Path.of("/usr/lib/jvm");
        if (!Files.isDirectory(jvms)) {
            return null;
        }
        try (Stream<Path> dirs = Files.list(jvms)) {
            return dirs.filter(d -> d.getFileName().toString().matches(".*-(2[1-9]|[3-9][0-9])(-.*|\\.?.*)?")
                    && Files.isExecutable(d.resolve("bin/java"))).sorted().findFirst().orElse(null);
        }
    }

    @Test
    void theUpdateGivesTheSameBitsOnANewerJdkWithTheVectorModule() throws Exception {
        Path jdk = newerJdk();
        Assumptions.assumeTrue(jdk != null, "skipped: no JDK 21 or later in /usr/lib/jvm and EMA4J_NEWER_JDK unset");
        Process process = new ProcessBuilder(List.of(jdk.resolve("bin/java").toString(), "--add-modules",
                "jdk.incubator.vector", "-cp", System.getProperty("java.class.path"), UpdateProbe.class.getName()))
                .redirectErrorStream(true).start();
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).as("the probe finished on " + jdk).isTrue();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.exitValue()).as(output).isZero();
        String here = UpdateProbe.run();
        String there = output.lines().filter(l -> l.startsWith("vector kernel")).findFirst().orElse(output);
        // same arithmetic, whichever kernel: only the kernel named differs
        assertThat(there.replaceFirst("vector kernel \\w+", "")).isEqualTo(here.replaceFirst("vector kernel \\w+", ""));
        assertThat(there).startsWith("vector kernel false");
        assertThat(here).contains("updates 2, skipped 1");
    }
}
