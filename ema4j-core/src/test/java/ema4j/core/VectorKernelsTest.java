package ema4j.core;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Which kernel a JVM gets, and what ema4j says when it is the slow one. */
class VectorKernelsTest {

    /** Runs {@link UpdateProbe} in a JVM of this JDK with the given options; its whole output. */
    private static String probe(String... options) throws Exception {
        List<String> command = new java.util.ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin",
                "java").toString()));
        command.addAll(List.of(options));
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), UpdateProbe.class.getName()));
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).isTrue();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.exitValue()).as(output).isZero();
        return output;
    }

    @Test
    void aJvmWithoutTheVectorApiSaysOnceHowToGetItAndGivesTheSameBits() throws Exception {
        String without = probe();
        assertThat(without.split("add-modules jdk.incubator.vector", -1)).as(without).hasSize(2);
        assertThat(without).contains("ema4j: the EMA update runs its scalar kernel, several times slower than the"
                + " Vector API kernel (same results): the JVM runs without the Vector API; start it with"
                + " --add-modules jdk.incubator.vector.");
        String with = probe("--add-modules", "jdk.incubator.vector");
        assertThat(with).doesNotContain("scalar kernel");
        assertThat(EmaState.kernel()).startsWith("Vector API kernel");
        String line = "vector kernel";
        assertThat(UpdateProbe.bits(without.substring(without.indexOf(line)).strip()))
                .isEqualTo(UpdateProbe.bits(with.substring(with.indexOf(line)).strip()));
    }
}
