package ema4j.io.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import ema4j.core.schedule.DecaySchedule;
import java.util.List;
import org.junit.jupiter.api.Test;

class ScheduleCodecTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void everyKindOfScheduleRoundTripsThroughJson() {
        List<DecaySchedule> every = List.of(DecaySchedule.warmup().updateAfterStep(3).power(0.7).minDecay(0.1)
                .maxDecay(0.99).build(), DecaySchedule.constant(0.95), DecaySchedule.ramp(0.999),
                DecaySchedule.powerFunction(6.94),
                DecaySchedule.diffusers().decay(0.999).minDecay(0.1).updateAfterStep(7).useEmaWarmup(true)
                        .invGamma(2.5).power(0.75).build(),
                DecaySchedule.diffusers().build(),
                DecaySchedule.timm().decay(0.998).minDecay(0.2).updateAfterStep(9).useWarmup(true).warmupGamma(1.5)
                        .warmupPower(0.8).build(),
                DecaySchedule.timm().build());
        for (DecaySchedule s : every) {
            assertThat(ScheduleCodec.fromJson(JSON.valueToTree(ScheduleCodec.toMap(s)))).isEqualTo(s);
        }
        assertThat(every.stream().<Class<?>>map(DecaySchedule::getClass).distinct())
                .containsExactlyInAnyOrder(DecaySchedule.class.getPermittedSubclasses());
    }

    @Test
    void everyKindIsWrittenWithItsOwnName() throws Exception {
        assertThat(JSON.writeValueAsString(ScheduleCodec.toMap(DecaySchedule.diffusers().build()))).isEqualTo(
                "{\"kind\":\"diffusers\",\"decay\":0.9999,\"minDecay\":0.0,\"updateAfterStep\":0,"
                        + "\"useEmaWarmup\":false,\"invGamma\":1.0,\"power\":0.6666666666666666}");
        assertThat(JSON.writeValueAsString(ScheduleCodec.toMap(DecaySchedule.timm().useWarmup(true).build())))
                .isEqualTo("{\"kind\":\"timm\",\"decay\":0.9999,\"minDecay\":0.0,\"updateAfterStep\":0,"
                        + "\"useWarmup\":true,\"warmupGamma\":1.0,\"warmupPower\":0.6666666666666666}");
    }

    @Test
    void unknownKindsAndMissingFieldsAreNamed() {
        assertThatThrownBy(() -> ScheduleCodec.fromJson(JSON.createObjectNode().put("kind", "cosine")))
                .hasMessageContaining("was 'cosine'");
        assertThatThrownBy(() -> ScheduleCodec.fromJson(JSON.createObjectNode().put("kind", "constant")))
                .hasMessage("schedule field decay must be a number, was null");
    }

    @Test
    void aWarmupSwitchThatIsNotABooleanIsNamed() {
        ObjectNode diffusers = JSON.valueToTree(ScheduleCodec.toMap(DecaySchedule.diffusers().build()));
        diffusers.put("useEmaWarmup", "yes");
        assertThatThrownBy(() -> ScheduleCodec.fromJson(diffusers))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("schedule field useEmaWarmup must be true or false, was \"yes\"");
        ObjectNode timm = JSON.valueToTree(ScheduleCodec.toMap(DecaySchedule.timm().build()));
        timm.remove("useWarmup");
        assertThatThrownBy(() -> ScheduleCodec.fromJson(timm))
                .hasMessage("schedule field useWarmup must be true or false, was null");
    }

    @Test
    void invalidValuesInTheJsonFailWithTheCoresMessage() {
        ObjectNode timm = JSON.valueToTree(ScheduleCodec.toMap(DecaySchedule.timm().build()));
        timm.put("minDecay", 1.0);
        assertThatThrownBy(() -> ScheduleCodec.fromJson(timm)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("minDecay must be <= decay (0.9999), was 1.0");
    }
}
