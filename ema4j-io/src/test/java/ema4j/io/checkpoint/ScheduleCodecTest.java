package ema4j.io.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import ema4j.core.schedule.DecaySchedule;
import java.util.List;
import org.junit.jupiter.api.Test;

class ScheduleCodecTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void everyKindOfScheduleRoundTripsThroughJson() {
        for (DecaySchedule s : List.of(DecaySchedule.warmup().updateAfterStep(3).power(0.7).minDecay(0.1)
                .maxDecay(0.99).build(), DecaySchedule.constant(0.95), DecaySchedule.ramp(0.999),
                DecaySchedule.powerFunction(6.94))) {
            assertThat(ScheduleCodec.fromJson(JSON.valueToTree(ScheduleCodec.toMap(s)))).isEqualTo(s);
        }
    }

    @Test
    void unknownKindsAndMissingFieldsAreNamed() {
        assertThatThrownBy(() -> ScheduleCodec.fromJson(JSON.createObjectNode().put("kind", "cosine")))
                .hasMessageContaining("was 'cosine'");
        assertThatThrownBy(() -> ScheduleCodec.fromJson(JSON.createObjectNode().put("kind", "constant")))
                .hasMessage("schedule field decay must be a number, was null");
    }
}
