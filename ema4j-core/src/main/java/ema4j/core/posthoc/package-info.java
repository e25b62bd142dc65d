/**
 * Post-hoc EMA (Karras et al., 2024, "Analyzing and Improving the Training Dynamics of Diffusion Models", EDM2): the
 * power-function profiles that recorded snapshots follow, and the least-squares weights that combine snapshots into
 * the EMA of a length chosen after training. Pure math on doubles; reading and combining snapshot files lives in IO.
 */
package ema4j.core.posthoc;
