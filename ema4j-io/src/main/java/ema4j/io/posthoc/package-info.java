/**
 * Post-hoc EMA on disk: the snapshots of power-function EMAs recorded during training, their manifest, and the
 * combination of snapshots into reconstructed weights (Karras et al., 2024, EDM2, Section 3.2). The math
 * lives in {@code ema4j.core.posthoc}; this package only stores and adds up float32 tensors,
 * and records which of them are averaged.
 */
package ema4j.io.posthoc;
