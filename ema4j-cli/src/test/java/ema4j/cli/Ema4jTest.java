package ema4j.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ema4j.core.Ema4jVersion;
import org.junit.jupiter.api.Test;

class Ema4jTest {

    @Test
    void versionPrintsTheLibrarysVersionFromThePom() {
        CliRun run = CliRun.of("--version");
        assertThat(run.exitCode()).isZero();
        assertThat(run.out().strip()).isEqualTo("ema4j " + Ema4jVersion.version()).doesNotContain("unknown");
    }
}
