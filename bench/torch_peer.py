#!/usr/bin/python3
"""The PyTorch peer: the EMA update of the same parameter sets, in the forms PyTorch users write, on CPU.

Variants (d = 0.999, shadow e, live p, every tensor of the set):
  torch-mul-add   per tensor e.mul_(d).add_(p, alpha=1-d)           (timm ModelEmaV2, diffusion_policy)
  torch-foreach   torch._foreach_mul_(E, d); torch._foreach_add_(E, P, alpha=1-d)   (timm ModelEmaV3's fallback)
  torch-lerp      per tensor e.lerp_(p, 1-d)
Sets as in ema4j.bench.ParameterSets: resnet50 (torchvision ResNet-50's 161 parameters, 25,557,032 floats) and 100m
(resnet50 four times). Prints "variant set params threads median_ms", the median of REPETITIONS timed updates after
3 warm-up updates, with torch.set_num_threads(T).

With --serve SET THREADS it is a peer of bench/turns.py instead: it sets up that set, prints "ready" and the variant
names, and answers each line "VARIANT N" of standard input with the fastest of N updates in milliseconds, until
"quit" or the end of input.

Usage: /usr/bin/python3 bench/torch_peer.py [--sets resnet50,100m] [--threads 1,2] [--repetitions 20]
       /usr/bin/python3 bench/torch_peer.py --serve SET THREADS
"""
import argparse
import statistics
import sys
import time

import torch

DECAY = 0.999


def resnet50_shapes():
    """torchvision ResNet-50's parameter shapes in named_parameters() order."""
    shapes = [(64, 3, 7, 7), (64,), (64,)]
    in_planes = 64
    for layer, blocks in enumerate([3, 4, 6, 3]):
        width = 64 << layer
        out = width * 4
        for block in range(blocks):
            shapes += [(width, in_planes, 1, 1), (width,), (width,),
                       (width, width, 3, 3), (width,), (width,),
                       (out, width, 1, 1), (out,), (out,)]
            if block == 0:
                shapes += [(out, in_planes, 1, 1), (out,), (out,)]
            in_planes = out
    shapes += [(1000, 2048), (1000,)]
    return shapes


def parameter_set(name):
    copies = {"resnet50": 1, "100m": 4}[name]
    return resnet50_shapes() * copies


def mul_add(shadow, live):
    for e, p in zip(shadow, live):
        e.mul_(DECAY).add_(p, alpha=1 - DECAY)


def foreach(shadow, live):
    torch._foreach_mul_(shadow, DECAY)
    torch._foreach_add_(shadow, live, alpha=1 - DECAY)


def lerp(shadow, live):
    for e, p in zip(shadow, live):
        e.lerp_(p, 1 - DECAY)


VARIANTS = {"torch-mul-add": mul_add, "torch-foreach": foreach, "torch-lerp": lerp}


def median_ms(update, shadow, live, repetitions):
    with torch.no_grad():
        for _ in range(3):
            update(shadow, live)
        times = []
        for _ in range(repetitions):
            start = time.perf_counter()
            update(shadow, live)
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def fastest_ms(update, shadow, live, times):
    best = float("inf")
    for _ in range(times):
        start = time.perf_counter()
        update(shadow, live)
        best = min(best, (time.perf_counter() - start) * 1e3)
    return best


def serve(name, threads):
    """Answers turns "VARIANT N" on standard input with the fastest of N updates, in milliseconds."""
    torch.set_num_threads(threads)
    live = [torch.rand(s) * 2 - 1 for s in parameter_set(name)]
    shadow = [p.clone() for p in live]
    with torch.no_grad():
        for update in VARIANTS.values():
            fastest_ms(update, shadow, live, 20)
        print("ready", *VARIANTS, flush=True)
        for line in sys.stdin:
            if line.strip() == "quit":
                break
            parts = line.split()
            if len(parts) != 2 or parts[0] not in VARIANTS or not parts[1].isdigit() or int(parts[1]) < 1:
                sys.exit(f"a turn must be 'VARIANT N' with VARIANT one of {', '.join(VARIANTS)}, was: {line.strip()}")
            print(f"{fastest_ms(VARIANTS[parts[0]], shadow, live, int(parts[1])):.4f}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="resnet50,100m")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--serve", nargs=2, metavar=("SET", "THREADS"))
    args = parser.parse_args()
    torch.manual_seed(42)
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    for name in args.sets.split(","):
        shapes = parameter_set(name)
        live = [torch.rand(s) * 2 - 1 for s in shapes]
        shadow = [p.clone() for p in live]
        params = sum(p.numel() for p in live)
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            for variant, update in VARIANTS.items():
                ms = median_ms(update, shadow, live, args.repetitions)
                print(f"{variant} {name} {params} {threads} {ms:.3f}", flush=True)
        del live, shadow


if __name__ == "__main__":
    main()
