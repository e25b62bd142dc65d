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
 * kernel on memory segments ({@code META-INF/versions/22}, compiled when the build names a JDK 22 or later in
 * {@code EMA4J_NEWER_JDK}) or else the scalar kernel must take over and give the same bits. Runs {@link UpdateProbe}
 * on the JDK that {@code EMA4J_NEWER_JDK} names, else on a {@code /usr/lib/jvm} JDK whose name says 21 or later;
 * skipped, saying so, when there is none. In CI ({@code CI=true}) the versioned kernel must have been built and run.
 * A JVM reads {@code META-INF/versions} from jars only; with the classes in a directory the probe puts that
 * directory first on the class path, which is what a jar's versioned entries do.
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

    /** The JDK's feature release, from its {@code release} file ({@code JAVA_VERSION="25.0.1"}). */
    private static int featureVersion(Path jdk) throws IOException {
        String version = Files.readAllLines(jdk.resolve("release")).stream()
                .filter(l -> l.startsWith("JAVA_VERSION=")).findFirst()
                .orElseThrow(() -> new IllegalStateException("no JAVA_VERSION in " + jdk.resolve("release")))
                .replaceAll("JAVA_VERSION=\"?([0-9]+).*", "$1");
        return Integer.parseInt(version);
    }

    /** The probe's line from a JVM of {@code jdk}. */
    static String probe(Path jdk, String classPath) throws Exception {
        Process process = new ProcessBuilder(List.of(jdk.resolve("bin/java").toString(), "--add-modules",
                "jdk.incubator.vector", "-cp", classPath, UpdateProbe.class.getName())).redirectErrorStream(true)
                .start();
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).as("the probe finished on " + jdk).isTrue();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.exitValue()).as(output).isZero();
        return output.lines().filter(l -> l.startsWith("vector kernel")).findFirst().orElse(output);
    }

    @Test
    void theUpdateGivesTheSameBitsOnANewerJdkWithTheVectorModule() throws Exception {
        Path jdk = newerJdk();
        boolean ci = "true".equals(System.getenv("CI"));
        Assumptions.assumeTrue(jdk != null || ci, "skipped: no JDK 21 or later in /usr/lib/jvm and EMA4J_NEWER_JDK"
                + " unset");
        assertThat(jdk).as("CI names a JDK 22 or later in EMA4J_NEWER_JDK").isNotNull();
        int feature = featureVersion(jdk);
        Path versioned = Path.of("target/classes/META-INF/versions/22");
        boolean segmentKernel = feature >= 22
                && Files.isRegularFile(versioned.resolve("ema4j/core/VectorKernels.class"));
        if (ci) {
            assertThat(segmentKernel).as("CI builds the kernel for JDK 22+ (EMA4J_NEWER_JDK=%s)", jdk).isTrue();
        }
        String classPath = (segmentKernel ? versioned.toAbsolutePath() + java.io.File.pathSeparator : "")
                + System.getProperty("java.class.path");
        String here = UpdateProbe.run();
        String there = probe(jdk, classPath);
        // same arithmetic, whichever kernel: only the kernel named differs
        assertThat(UpdateProbe.bits(there)).isEqualTo(UpdateProbe.bits(here));
        // JDK 22+ with the versioned kernel built: the kernel on memory segments; otherwise the scalar kernel
        assertThat(there).as("JDK %d at %s, versioned kernel %s", feature, jdk, segmentKernel)
                .startsWith("vector kernel " + segmentKernel);
        assertThat(here).contains("updates 2, skipped 1");
    }
}
