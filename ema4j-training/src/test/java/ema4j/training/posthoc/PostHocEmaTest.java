package ema4j.training.posthoc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import ema4j.core.policy.ParameterRule;
import ema4j.core.posthoc.PowerFunctionProfile;
import ema4j.io.posthoc.Snapshot;
import ema4j.io.posthoc.SnapshotFormatException;
import ema4j.io.posthoc.SnapshotStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Choosing snapshots and refusing what cannot be reconstructed, on snapshots recorded while training for real. */
class PostHocEmaTest {
    @TempDir
    static Path snapshots;

    static Map<String, ParameterRule> rules;

    @BeforeAll
    static void recordARun() throws Exception {
        rules = RecordedRun.record(snapshots);
    }

    @Test
    void theAveragedTensorsAreThoseTheEmaAveragedAsItsRulesSaid() throws Exception {
        PostHocEma postHoc = PostHocEma.builder(snapshots).build();
        List<String> averaged = rules.entrySet().stream().filter(e -> e.getValue() == ParameterRule.AVERAGE)
                .map(Map.Entry::getKey).toList();
        assertThat(postHoc.averaged()).containsExactlyElementsOf(averaged);
        // AVERAGE_AFFINE: BatchNorm's gamma and beta are EMAs, its running statistics copied
        assertThat(postHoc.averaged()).anyMatch(n -> n.endsWith("gamma")).anyMatch(n -> n.endsWith("beta"))
                .noneMatch(n -> n.endsWith("runningMean")).noneMatch(n -> n.endsWith("runningVar"));
        assertThat(rules).hasSizeGreaterThan(averaged.size());
    }

    @Test
    void theStepDefaultsToTheLastRecordedAndAnEarlierStepTakesTheSnapshotsUpToIt() throws Exception {
        PostHocEma last = PostHocEma.builder(snapshots).build();
        assertThat(last.step()).isEqualTo(RecordedRun.STEPS);
        assertThat(last.snapshots()).hasSize(3 * RecordedRun.STEPS / RecordedRun.EVERY);
        PostHocEma earlier = PostHocEma.builder(snapshots).step(32).build();
        assertThat(earlier.step()).isEqualTo(32);
        assertThat(earlier.snapshots()).extracting(Snapshot::step).allMatch(s -> s <= 30).hasSize(3 * 6);
        assertThat(PostHocEma.builder(snapshots).step(30).build().reconstructSigmaRel(0.12).reconstruction()
                .target().t()).isEqualTo(30);
    }

    @Test
    void excludedLengthsLeaveTheirSnapshotsOut() throws Exception {
        PostHocEma postHoc = PostHocEma.builder(snapshots).excludeSigmaRels(List.of(0.1)).build();
        assertThat(postHoc.snapshots()).hasSize(2 * RecordedRun.STEPS / RecordedRun.EVERY)
                .extracting(Snapshot::sigmaRel).noneMatch(s -> Math.abs(s - 0.10) < 1e-9);
    }

    @Test
    void aTargetByGammaIsTheTargetOfTheSameSigmaRel() throws Exception {
        PostHocEma postHoc = PostHocEma.builder(snapshots).build();
        double gamma = PowerFunctionProfile.gammaFromSigmaRel(0.12);
        assertThat(postHoc.reconstructGamma(gamma).reconstruction().weights())
                .containsExactly(postHoc.reconstructSigmaRel(0.12).reconstruction().weights(), within(1e-9));
    }

    @Test
    void badArgumentsAreRefusedInOneLineNamingTheArgument() throws Exception {
        PostHocEma postHoc = PostHocEma.builder(snapshots).build();
        assertThatThrownBy(() -> postHoc.reconstructSigmaRel(0.5)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("sigmaRel must be in (0, " + PowerFunctionProfile.MAX_SIGMA_REL + "], was 0.5");
        assertThatThrownBy(() -> postHoc.reconstructSigmaRel(Double.NaN)).hasMessageEndingWith("was NaN");
        assertThatThrownBy(() -> postHoc.reconstructGamma(-0.7)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("gamma must be > -0.5 (a square-integrable profile), was -0.7");
        assertThatThrownBy(() -> PostHocEma.builder(snapshots).step(3).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("step must be >= the first recorded step 5, was 3");
        assertThatThrownBy(() -> PostHocEma.builder(snapshots).step(0)).hasMessage("step must be >= 1, was 0");
        assertThatThrownBy(() -> PostHocEma.builder(snapshots).excludeSigmaRels(List.of(0.05, 0.1, 0.15)).build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("excludedSigmaRels must leave some snapshots up to step 60, was [0.05, 0.1, 0.15]");
        assertThatThrownBy(() -> PostHocEma.builder(snapshots).excludeSigmaRels(List.of(0.07)).build())
                .hasMessage("excludedSigmaRels must be lengths the snapshots track [0.05, 0.1, 0.15], was [0.07]");
        assertThatThrownBy(() -> PostHocEma.builder(snapshots).maxResidual(Double.NaN))
                .hasMessage("maxResidual must be >= 0, was NaN");
        assertThatThrownBy(() -> PostHocEma.builder(snapshots).maxAmplification(0.5))
                .hasMessage("maxAmplification must be >= 1, was 0.5");
    }

    @Test
    void targetsTheSnapshotsCannotMatchAreRefusedWithTheSolversMessage() throws Exception {
        PostHocEma strict = PostHocEma.builder(snapshots).maxResidual(0.001).build();
        assertThatThrownBy(() -> strict.reconstructSigmaRel(0.28)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("target (sigma_rel 0.2800").hasMessageContaining("cannot be matched")
                .hasMessageContaining("the relative residual is").hasMessageNotContaining("\n");
        PostHocEma noCancelling = PostHocEma.builder(snapshots).maxAmplification(1).build();
        assertThatThrownBy(() -> noCancelling.reconstructSigmaRel(0.12)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("the weights cancel").hasMessageContaining("above maxAmplification 1.00");
    }

    @Test
    void snapshotsRecordedWithoutTheirRulesAreRefusedSayingToRecordAgain(@TempDir Path old) throws Exception {
        try (Stream<Path> files = Files.list(snapshots)) {
            for (Path file : files.toList()) {
                Files.copy(file, old.resolve(file.getFileName().toString()));
            }
        }
        Path manifest = old.resolve(SnapshotStore.MANIFEST_FILE);
        // a format 1 directory: the same manifest, files without the averaged list
        Files.writeString(manifest, Files.readString(manifest).replace("\"formatVersion\" : 2",
                "\"formatVersion\" : 1"));
        assertThatThrownBy(() -> PostHocEma.builder(old).build()).isInstanceOf(SnapshotFormatException.class)
                .hasMessage(manifest + ": formatVersion must be 2, was 1: these snapshots do not record which tensors"
                        + " are averaged, so they cannot be reconstructed; record them again with this version"
                        + " (train --posthoc-every N)");
    }
}
