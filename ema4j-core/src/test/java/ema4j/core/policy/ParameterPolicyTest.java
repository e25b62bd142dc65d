package ema4j.core.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ema4j.core.policy.ParameterPolicy.BatchNormRule;
import org.junit.jupiter.api.Test;

class ParameterPolicyTest {
    private static final ParameterInfo CONV = new ParameterInfo("01Conv2d_weight", true, false, false);
    private static final ParameterInfo GAMMA = new ParameterInfo("02BatchNorm_gamma", true, true, false);
    private static final ParameterInfo MEAN = new ParameterInfo("02BatchNorm_runningMean", false, true, true);
    private static final ParameterInfo FROZEN = new ParameterInfo("05Linear_weight", false, false, false);

    @Test
    void theSeedAveragesTrainableAndCopiesBatchNormAndFrozen() {
        ParameterPolicy seed = ParameterPolicy.diffusionPolicy();
        assertThat(seed.decide(CONV).rule()).isEqualTo(ParameterRule.AVERAGE);
        assertThat(seed.decide(GAMMA).rule()).isEqualTo(ParameterRule.COPY);
        assertThat(seed.decide(MEAN).rule()).isEqualTo(ParameterRule.COPY);
        assertThat(seed.decide(FROZEN).rule()).isEqualTo(ParameterRule.COPY);
        assertThat(seed.decide(FROZEN).reason()).contains("frozen");
        assertThat(seed.decide(GAMMA).reason()).contains("BatchNorm");
    }

    @Test
    void averagingTheAffineBatchNormParametersStillCopiesTheStatistics() {
        ParameterPolicy p = ParameterPolicy.builder().batchNorm(BatchNormRule.AVERAGE_AFFINE).build();
        assertThat(p.decide(GAMMA).rule()).isEqualTo(ParameterRule.AVERAGE);
        assertThat(p.decide(MEAN).rule()).isEqualTo(ParameterRule.COPY);
    }

    @Test
    void nameOverridesComeFirstInTheOrderGiven() {
        ParameterPolicy p = ParameterPolicy.builder().copy("01Conv2d_.*").average(".*").build();
        assertThat(p.decide(CONV).rule()).isEqualTo(ParameterRule.COPY);
        assertThat(p.decide(CONV).reason()).contains("01Conv2d_.*");
        assertThat(p.decide(FROZEN).rule()).isEqualTo(ParameterRule.AVERAGE);
    }

    @Test
    void aPatternMustMatchTheWholeName() {
        ParameterPolicy p = ParameterPolicy.builder().copy("Conv2d").build();
        assertThat(p.decide(CONV).rule()).isEqualTo(ParameterRule.AVERAGE);
    }

    @Test
    void invalidPatternsAreRejectedWithThePattern() {
        assertThatThrownBy(() -> ParameterPolicy.builder().copy("(unclosed"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("pattern must be a valid regular expression, was '(unclosed'");
        assertThatThrownBy(() -> ParameterPolicy.builder().average(""))
                .hasMessage("pattern must be a non-empty regular expression, was ");
    }
}
