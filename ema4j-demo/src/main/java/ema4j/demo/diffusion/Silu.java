package ema4j.demo.diffusion;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.nn.Activation;

/**
 * SiLU, {@code x * sigmoid(x)} (swish at beta 1), from tensor operations only.
 *
 * <p>Not DJL's {@code Activation.swish(x, 1f)}: that computes {@code sigmoid(x.mul(1f)) * x}, and the PyTorch
 * engine's {@code NDArray.mul(Number)} makes the number a tensor over a Java direct buffer ({@code from_blob}, which
 * does not own the memory) and closes that NDArray as soon as the product is made. Autograd keeps the number's tensor
 * for the backward pass, so once the garbage collector has freed the buffer, backward reads freed memory as the
 * factor: gradients of garbage, NaN among them, depending on when the collector ran. Here no host number enters the
 * graph; the values and the gradients are those of {@code swish(x, 1f)} with its buffer intact, bit for bit (the
 * factor was exactly 1).
 */
final class Silu {
    private Silu() {}

    /** SiLU of every element of {@code x}. */
    static NDArray of(NDArray x) {
        return Activation.sigmoid(x).mul(x);
    }

    /** SiLU of the single array of {@code x}. */
    static NDList of(NDList x) {
        return new NDList(of(x.singletonOrThrow()));
    }
}
