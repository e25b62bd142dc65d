package ema4j.training.posthoc;

import static ema4j.core.internal.Preconditions.requireArgument;

import ema4j.core.posthoc.PowerFunctionProfile;
import ema4j.core.posthoc.Reconstruction;
import ema4j.io.posthoc.Snapshot;
import ema4j.io.posthoc.SnapshotStore;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * The snapshots a {@link PostHocRecorder} wrote, up to one training step, from which the power-function EMA of any
 * length is reconstructed after training (Karras et al., 2024, "Analyzing and Improving the Training Dynamics of
 * Diffusion Models", Section 3.2): the target's profile is matched by a least-squares combination of the snapshots'
 * profiles ({@link Reconstruction}), and the snapshots are added up with those weights ({@link ReconstructedEma}).
 *
 * <pre>{@code
 * PostHocEma postHoc = PostHocEma.builder(out.resolve(PostHocRecorder.DIRECTORY)).build();
 * ReconstructedEma ema = postHoc.reconstructSigmaRel(0.12);   // solves only; refuses what it cannot match
 * ema.loadInto(block);
 * }</pre>
 *
 * <p>Which tensors are EMAs comes from the snapshots' recorded rules ({@link #averaged()}), never from their names.
 * Reconstructing solves the small least-squares system only; snapshot files are read when a result is written,
 * loaded or compared. Immutable and thread-safe while no recorder writes into the directory.
 */
public final class PostHocEma {
    /** The default {@link Builder#maxResidual}: targets the snapshots match worse than this are refused. */
    public static final double DEFAULT_MAX_RESIDUAL = 0.05;
    /** The default {@link Builder#maxAmplification}, {@link Reconstruction#DEFAULT_MAX_AMPLIFICATION}. */
    public static final double DEFAULT_MAX_AMPLIFICATION = Reconstruction.DEFAULT_MAX_AMPLIFICATION;

    private final SnapshotStore store;
    private final long step;
    private final List<Snapshot> snapshots;
    private final List<String> averaged;
    private final double maxResidual;
    private final double maxAmplification;

    private PostHocEma(SnapshotStore store, long step, List<Snapshot> snapshots, List<String> averaged,
            double maxResidual, double maxAmplification) {
        this.store = store;
        this.step = step;
        this.snapshots = List.copyOf(snapshots);
        this.averaged = List.copyOf(averaged);
        this.maxResidual = maxResidual;
        this.maxAmplification = maxAmplification;
    }

    /**
     * Starts opening the snapshot directory {@code snapshots} (a recorder's {@code OUT/posthoc}).
     *
     * @param snapshots the directory, non-null
     */
    public static Builder builder(Path snapshots) {
        requireArgument(snapshots != null, "snapshots", "non-null", null);
        return new Builder(snapshots);
    }

    /**
     * Reconstructs the EMA of relative standard deviation {@code sigmaRel} at {@link #step()}; writes nothing.
     *
     * @param sigmaRel in {@code (0, PowerFunctionProfile.MAX_SIGMA_REL]}
     * @throws IllegalArgumentException when sigmaRel is out of range, or the snapshots cannot match it (the solver's
     *     message: too large a residual or amplification, or nearly dependent profiles)
     */
    public ReconstructedEma reconstructSigmaRel(double sigmaRel) {
        requireArgument(sigmaRel > 0 && sigmaRel <= PowerFunctionProfile.MAX_SIGMA_REL, "sigmaRel",
                "in (0, " + PowerFunctionProfile.MAX_SIGMA_REL + "]", sigmaRel);
        return reconstruct(PowerFunctionProfile.gammaFromSigmaRel(sigmaRel));
    }

    /**
     * Reconstructs the EMA of power-function exponent {@code gamma} at {@link #step()}; writes nothing.
     *
     * @param gamma {@code > -0.5} and finite, so that the profile is square-integrable
     * @throws IllegalArgumentException when gamma is out of range, or the snapshots cannot match it (the solver's
     *     message)
     */
    public ReconstructedEma reconstructGamma(double gamma) {
        requireArgument(gamma > -0.5 && Double.isFinite(gamma), "gamma", "> -0.5 (a square-integrable profile)",
                gamma);
        return reconstruct(gamma);
    }

    private ReconstructedEma reconstruct(double gamma) {
        Reconstruction solved = Reconstruction.solve(snapshots.stream().map(Snapshot::profile).toList(),
                new PowerFunctionProfile(gamma, step), maxResidual, Reconstruction.DEFAULT_MAX_CONDITION_NUMBER,
                maxAmplification);
        return new ReconstructedEma(store, snapshots, solved, step, averaged);
    }

    /** The snapshot directory. */
    public Path directory() {
        return store.directory();
    }

    /** The training step reconstructed at: the builder's, or the last recorded. */
    public long step() {
        return step;
    }

    /** The snapshots combined, those up to {@link #step()} less the excluded lengths, in recorded order. */
    public List<Snapshot> snapshots() {
        return snapshots;
    }

    /** The names of the tensors every chosen snapshot records as an EMA, in the first snapshot's order. */
    public List<String> averaged() {
        return averaged;
    }

    @Override
    public String toString() {
        return "PostHocEma{directory=" + store.directory() + ", step=" + step + ", snapshots=" + snapshots.size()
                + ", averaged=" + averaged.size() + ", maxResidual=" + maxResidual + ", maxAmplification="
                + maxAmplification + "}";
    }

    /** Whether two EMA lengths (sigma_rel or gamma) are the same up to the rounding of a round trip through text. */
    static boolean sameLength(double a, double b) {
        return Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
    }

    /** Chooses the step, the snapshots and the refusal thresholds; each setter checks its argument. */
    public static final class Builder {
        private final Path directory;
        private Long step;
        private List<Double> excludedSigmaRels = List.of();
        private double maxResidual = DEFAULT_MAX_RESIDUAL;
        private double maxAmplification = DEFAULT_MAX_AMPLIFICATION;

        private Builder(Path directory) {
            this.directory = directory;
        }

        /**
         * Reconstructs the EMA as it was after {@code step}, from the snapshots up to it; default the last recorded.
         *
         * @param step {@code >= 1}, and at least the first recorded step (checked by {@link #build()})
         * @return this builder
         */
        public Builder step(long step) {
            requireArgument(step >= 1, "step", ">= 1", step);
            this.step = step;
            return this;
        }

        /**
         * Leaves out the snapshots of these tracked lengths, e.g. to check the method against a tracked EMA; default
         * none.
         *
         * @param sigmaRels the lengths, matched to the recorded ones up to rounding; non-null, no null element
         * @return this builder
         */
        public Builder excludeSigmaRels(List<Double> sigmaRels) {
            requireArgument(sigmaRels != null && sigmaRels.stream().noneMatch(Objects::isNull), "excludedSigmaRels",
                    "a list without nulls", sigmaRels);
            this.excludedSigmaRels = List.copyOf(sigmaRels);
            return this;
        }

        /**
         * Refuses targets whose profile the snapshots match worse than this relative L2 residual; default
         * {@value PostHocEma#DEFAULT_MAX_RESIDUAL}.
         *
         * @param maxResidual {@code >= 0}
         * @return this builder
         */
        public Builder maxResidual(double maxResidual) {
            requireArgument(maxResidual >= 0, "maxResidual", ">= 0", maxResidual);
            this.maxResidual = maxResidual;
            return this;
        }

        /**
         * Refuses targets whose snapshot weights' absolute values sum to more than this (they cancel large multiples
         * of neighbouring snapshots and magnify their float32 rounding); default 1000.
         *
         * @param maxAmplification {@code >= 1}
         * @return this builder
         */
        public Builder maxAmplification(double maxAmplification) {
            requireArgument(maxAmplification >= 1, "maxAmplification", ">= 1", maxAmplification);
            this.maxAmplification = maxAmplification;
            return this;
        }

        /**
         * Opens the directory and chooses the snapshots, checking that every one records the same averaged tensors.
         *
         * @return the snapshots, ready to reconstruct from
         * @throws IllegalArgumentException when the directory holds no snapshot, the step lies before the first
         *     recorded one, or the exclusions leave no snapshot
         * @throws ema4j.io.posthoc.SnapshotFormatException when the directory is not a snapshot directory, is damaged,
         *     was recorded without the averaged tensors (format 1: record it again), or its chosen snapshots average
         *     different tensors
         * @throws IOException when the file system fails
         */
        public PostHocEma build() throws IOException {
            SnapshotStore store = SnapshotStore.open(directory);
            List<Snapshot> all = store.snapshots();
            if (all.isEmpty()) {
                throw new IllegalArgumentException("snapshots must hold at least one snapshot, was empty: "
                        + directory);
            }
            long last = all.stream().mapToLong(Snapshot::step).max().orElseThrow();
            long at = step == null ? last : step;
            requireArgument(!store.snapshotsUpTo(at).isEmpty(), "step", ">= the first recorded step "
                    + all.stream().mapToLong(Snapshot::step).min().orElseThrow(), at);
            List<Double> tracked = all.stream().map(Snapshot::sigmaRel).distinct().toList();
            for (double excluded : excludedSigmaRels) {
                // leaving out a length that was never tracked would leave out nothing, without a word
                requireArgument(tracked.stream().anyMatch(t -> sameLength(t, excluded)), "excludedSigmaRels",
                        "lengths the snapshots track " + tracked.stream().map(t -> new java.math.BigDecimal(t)
                                .round(new java.math.MathContext(6)).stripTrailingZeros().toPlainString()).toList(),
                        excludedSigmaRels);
            }
            List<Snapshot> chosen = store.snapshotsUpTo(at).stream()
                    .filter(s -> excludedSigmaRels.stream().noneMatch(x -> sameLength(x, s.sigmaRel()))).toList();
            if (chosen.isEmpty()) {
                throw new IllegalArgumentException("excludedSigmaRels must leave some snapshots up to step " + at
                        + ", was " + excludedSigmaRels);
            }
            return new PostHocEma(store, at, chosen, store.averaged(chosen), maxResidual, maxAmplification);
        }

        @Override
        public String toString() {
            return "PostHocEma.Builder{directory=" + directory + ", step=" + (step == null ? "last" : step)
                    + ", excludedSigmaRels=" + excludedSigmaRels + ", maxResidual=" + maxResidual
                    + ", maxAmplification=" + maxAmplification + "}";
        }
    }
}
