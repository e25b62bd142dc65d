#!/usr/bin/env python3
"""Paired ratios of two variants from the raw turns of bench/turns.py (its --raw file; bench/run writes
ema4j-bench/target/turns.txt and turns-newer.txt): for every set and thread count, the median over the rounds of
A's time divided by B's in the same round, with the range. Turns of one round are seconds apart, so the ratio
leaves out the drift of the machine between rounds (stdlib only).

Usage: python3 bench/paired.py RAW A/B [A/B ...]
  e.g. python3 bench/paired.py ema4j-bench/target/turns.txt djl-ema4j/ema4j-on-tensors ema4j-on-tensors/ema4j
"""
import collections
import statistics
import sys


def read_turns(path):
    """{(set, threads, round): {variant: ms}} from lines 'turn SET THREADS ROUND VARIANT MS'."""
    rounds = collections.defaultdict(dict)
    with open(path) as raw:
        for number, line in enumerate(raw, 1):
            fields = line.split()
            if len(fields) != 6 or fields[0] != "turn":
                sys.exit(f"paired.py: {path}:{number} is not 'turn SET THREADS ROUND VARIANT MS': {line.strip()}")
            _, name, threads, round_number, variant, ms = fields
            rounds[(name, int(threads), int(round_number))][variant] = float(ms)
    return rounds


def main():
    if len(sys.argv) < 3 or any(pair.count("/") != 1 for pair in sys.argv[2:]):
        sys.exit(__doc__.strip().split("\n\n")[-1])
    rounds = read_turns(sys.argv[1])
    known = {variant for times in rounds.values() for variant in times}
    for pair in sys.argv[2:]:
        a, b = pair.split("/")
        for variant in (a, b):
            if variant not in known:
                sys.exit(f"paired.py: no turns of {variant} in {sys.argv[1]}; it has {', '.join(sorted(known))}")
        by_config = collections.defaultdict(list)
        for (name, threads, _), times in rounds.items():
            if a in times and b in times:
                by_config[(name, threads)].append(times[a] / times[b])
        for (name, threads), ratios in sorted(by_config.items()):
            print(f"{a} / {b}, {name}, {threads} thread(s): {statistics.median(ratios):.3f} "
                  f"({min(ratios):.3f}-{max(ratios):.3f}) over {len(ratios)} rounds")


if __name__ == "__main__":
    main()
