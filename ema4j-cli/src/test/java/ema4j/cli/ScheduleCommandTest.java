package ema4j.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ScheduleCommandTest {

    @Test
    void jsonAgreesWithTheSeedFormulaAndListsTheCrossings() throws Exception {
        CliRun run = CliRun.of("schedule", "--preset", "long", "--json");
        assertThat(run.exitCode()).isZero();
        JsonNode rows = new ObjectMapper().readTree(run.out()).get("rows");
        int checked = 0;
        for (JsonNode row : rows) {
            long t = row.get("update").asLong();
            long step = Math.max(0, t - 1);
            double expected = step <= 0 ? 0 : Math.min(0.9999, 1 - Math.pow(1 + step, -2.0 / 3));
            assertThat(row.get("decay").asDouble()).as("update %d", t).isCloseTo(expected, within(1e-12));
            checked++;
        }
        assertThat(checked).isGreaterThanOrEqualTo(7);
        assertThat(run.out()).contains("first >= 0.999");
        JsonNode crossing = null;
        for (JsonNode row : rows) {
            if (row.get("note").asText().contains("0.999,") || row.get("note").asText().endsWith(">= 0.999")) {
                crossing = row;
            }
        }
        assertThat(crossing.get("update").asLong()).isBetween(31_622L, 31_624L);
    }

    @Test
    void theTableShowsTheCorrectedSeedValues() {
        CliRun run = CliRun.of("schedule", "--preset", "long", "--at", "0,1000,10000,100000,1000000");
        assertThat(run.exitCode()).isZero();
        assertThat(run.out()).contains("0.99000").contains("0.99784").contains("0.99953584").contains("0.99990000");
    }

    @Test
    void aPlotIsWritten(@TempDir Path dir) {
        Path png = dir.resolve("decay.png");
        assertThat(CliRun.of("schedule", "--preset", "short", "--plot", png.toString()).exitCode()).isZero();
        assertThat(png).isRegularFile();
    }

    @Test
    void anUnknownPresetIsOneLineAndANonZeroExit() {
        CliRun run = CliRun.of("schedule", "--preset", "medium");
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().strip()).isEqualTo("ema4j: Invalid value for option '--preset': expected one of"
                + " [LONG, SHORT] (case-insensitive) but was 'medium' (see 'ema4j schedule --help')");
    }

    @Test
    void anOptionTheScheduleDoesNotUseIsRefusedNotIgnored() {
        CliRun run = CliRun.of("schedule", "--decay", "0.99");
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().strip()).isEqualTo("ema4j: --decay must not be given with --schedule warmup, which does"
                + " not use it (it takes --inv-gamma, --max-decay, --min-decay, --power, --preset,"
                + " --update-after-step), was 0.99");
        CliRun constant = CliRun.of("schedule", "--schedule", "constant", "--decay", "0.99", "--power", "0.5");
        assertThat(constant.exitCode()).isEqualTo(2);
        assertThat(constant.err().strip()).startsWith("ema4j: --power must not be given with --schedule constant");
        assertThat(CliRun.of("schedule", "--schedule", "constant", "--decay", "0.99").exitCode()).isZero();
    }

    @Test
    void anInvalidPowerNamesTheValueAndTheRange() {
        CliRun run = CliRun.of("schedule", "--power", "-1");
        assertThat(run.exitCode()).isEqualTo(2);
        assertThat(run.err().strip()).isEqualTo("ema4j: power must be > 0 and finite, was -1.0");
    }
}
