"""PyTorch's side of ArithmeticTest: diffusion_policy's EMA update, ema.mul_(d).add_(w, alpha=1 - d), on the CPU.

Usage: python3 torch_mul_add.py DIR N STEPS
DIR holds decays.bin (STEPS float64), and for float32 and float64 each (suffix 32, 64): e32.bin / e64.bin (N values,
the shadow's start) and w32.bin / w64.bin (STEPS x N weights); writes out32.bin and out64.bin, the shadows after
every step. All little-endian.
"""
import sys

import numpy
import torch


def main(directory, n, steps):
    decays = numpy.fromfile(f"{directory}/decays.bin", dtype="<f8")
    for bits, dtype in (("32", "<f4"), ("64", "<f8")):
        ema = torch.from_numpy(numpy.fromfile(f"{directory}/e{bits}.bin", dtype=dtype).copy())
        weights = torch.from_numpy(numpy.fromfile(f"{directory}/w{bits}.bin", dtype=dtype).reshape(steps, n).copy())
        for step in range(steps):
            decay = float(decays[step])
            ema.mul_(decay)
            ema.add_(weights[step], alpha=1 - decay)
        ema.numpy().astype(dtype).tofile(f"{directory}/out{bits}.bin")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
