package ema4j.core;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class Ema4jVersionTest {

    @Test
    void theVersionIsThePomsAsTheBuildFilteredItIn() {
        // ema4j-core's POM hands its version to the tests as ema4j.expectedVersion
        assertThat(Ema4jVersion.version()).isEqualTo(System.getProperty("ema4j.expectedVersion"))
                .matches("\\d+\\.\\d+\\.\\d+(-[A-Za-z0-9.]+)?");
    }

    @Test
    void theLabelIsTheNameAndTheVersion() {
        assertThat(Ema4jVersion.label()).isEqualTo("ema4j " + Ema4jVersion.version());
    }
}
