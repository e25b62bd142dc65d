package ema4j.core;

/** How an update computes {@code e = d * e + (1 - d) * w} in floating point: the same average, rounded differently. */
public enum Arithmetic {
    /**
     * {@code e = fma(1 - d, w - e, e)}, one rounding per element: a constant weight stays exactly constant and decay 1
     * freezes exactly. The default, and the fast one.
     */
    FUSED,
    /**
     * {@code e = fma(1 - d, w, e * d)}, with {@code e * d} rounded and {@code d} and {@code 1 - d} rounded to the
     * shadow's precision: what PyTorch's {@code ema.mul_(d).add_(w, alpha=1 - d)} gives bit for bit on its CPU
     * kernels, the form of diffusion_policy's {@code EMAModel}. For float32 and float64 weights (16-bit weights keep a
     * float32 shadow here, a 16-bit one in PyTorch), to reproduce a Python run exactly; a constant weight drifts by a
     * few ulps over many updates, and the update runs the scalar kernel, more than twice as slow.
     */
    MUL_ADD
}
