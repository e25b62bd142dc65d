package ema4j.core.internal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ema4j.core.NonFinitePolicy;
import ema4j.core.NonFiniteWeightsException;
import ema4j.core.UpdateResult;
import ema4j.core.schedule.DecaySchedule;
import org.junit.jupiter.api.Test;

class EmaClockTest {
    private static final DecaySchedule SCHEDULE = DecaySchedule.warmup().power(0.75).build();

    @Test
    void countsAppliedAndRefusedUpdatesAndCompoundsTheirDecay() {
        EmaClock clock = EmaClock.start(SCHEDULE, NonFinitePolicy.SKIP);
        assertThat(clock.lastDecay()).isNaN();
        clock.applied(clock.decayFor(1), 1);
        clock.applied(clock.decayFor(1), 1);
        double three = clock.decayFor(3);
        assertThat(three).isEqualTo(SCHEDULE.compoundedDecay(2, 3)).isPositive();
        clock.applied(three, 3);
        UpdateResult skipped = clock.refused("w", 7, clock.decayFor(2), 2);
        assertThat(skipped.applied()).isFalse();
        assertThat(skipped.nonFiniteParameter()).isEqualTo("w");
        assertThat(skipped.nonFiniteElement()).isEqualTo(7);
        assertThat(clock.updates()).isEqualTo(5);
        assertThat(clock.skippedUpdates()).isEqualTo(2);
        assertThat(clock.lastDecay()).isEqualTo(three);
        assertThat(clock.nextDecay()).isEqualTo(SCHEDULE.decayAt(5));
        assertThat(clock.horizon()).isEqualTo(1 / (1 - three));
    }

    @Test
    void underFailARefusedUpdateThrowsWithItsNumberAndCountsNothing() {
        EmaClock clock = EmaClock.restore(SCHEDULE, NonFinitePolicy.FAIL, 10, 2);
        assertThatThrownBy(() -> clock.refused("layer.weight", 3, 0.5, 1))
                .isInstanceOfSatisfying(NonFiniteWeightsException.class, e -> {
                    assertThat(e.parameter()).isEqualTo("layer.weight");
                    assertThat(e.element()).isEqualTo(3);
                    assertThat(e.update()).isEqualTo(13);
                });
        assertThat(clock.updates()).isEqualTo(10);
        assertThat(clock.skippedUpdates()).isEqualTo(2);
        assertThat(clock.lastDecay()).isEqualTo(SCHEDULE.decayAt(9));
    }

    @Test
    void aCopyIsDetached() {
        EmaClock clock = EmaClock.start(SCHEDULE, NonFinitePolicy.SKIP);
        clock.applied(0.25, 4);
        EmaClock copy = clock.copy();
        clock.applied(0.5, 1);
        assertThat(copy.updates()).isEqualTo(4);
        assertThat(copy.lastDecay()).isEqualTo(0.25);
        assertThat(clock.updates()).isEqualTo(5);
    }

    @Test
    void badArgumentsAreRefusedByName() {
        assertThatThrownBy(() -> EmaClock.start(null, NonFinitePolicy.FAIL))
                .hasMessage("schedule must be non-null, was null");
        assertThatThrownBy(() -> EmaClock.restore(SCHEDULE, NonFinitePolicy.FAIL, -1, 0))
                .hasMessage("updates must be >= 0, was -1");
        assertThatThrownBy(() -> EmaClock.start(SCHEDULE, NonFinitePolicy.FAIL).decayFor(0))
                .hasMessage("steps must be >= 1, was 0");
    }
}
