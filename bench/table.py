#!/usr/bin/env python3
"""Combines one run's JMH results and C/PyTorch lines into one markdown table (stdlib only).

Inputs: --jmh FILE (JMH's -rf json output; may be missing) and --lines FILE... (lines "variant set params threads
median_ms" from bench/c/ema_update.c and bench/torch_peer.py; other lines are ignored).
Columns: GB/s counts 12 bytes per float32 parameter (read live, read and write shadow). "vs baseline" is
best_baseline_ms / ms at the same set and threads, the baseline being the fastest of java-baseline, c-contiguous and
c-tensors in this run: 1 = as fast, >= 0.85 is the target for ema4j. "vs PyTorch" is ms / best_torch_ms at the same
set and threads: < 1 = faster than PyTorch's best variant, <= 0.8 is the target.
"""
import argparse
import json
import os
import statistics
import sys

BASELINES = ("java-baseline", "c-contiguous", "c-tensors")
SET_ORDER = {"resnet50": 0, "100m": 1}
GROUP_ORDER = ("c-", "java-baseline", "ema4j", "djl-", "torch-")
JMH_NAMES = {
    ("UpdateThroughputBenchmark", "ema4j"): "ema4j",
    ("UpdateThroughputBenchmark", "baseline"): "java-baseline",
    ("DjlUpdateBenchmark", "ema4j"): "djl-ema4j",
    ("DjlUpdateBenchmark", "ndarray-inplace"): "djl-ndarray-inplace",
    ("DjlUpdateBenchmark", "ndarray-temporary"): "djl-ndarray-temporary",
}
PARAMS = {"resnet50": 25_557_032, "100m": 4 * 25_557_032}


def jmh_rows(path):
    if not path or not os.path.exists(path):
        return []
    rows = []
    with open(path) as f:
        results = json.load(f)
    for r in results:
        klass = r["benchmark"].split(".")[-2]
        p = r.get("params", {})
        unit = r["primaryMetric"]["scoreUnit"]
        if unit != "ms/op":
            sys.exit(f"expected ms/op from {r['benchmark']}, got {unit}")
        iterations = [x for fork in r["primaryMetric"]["rawData"] for x in fork]
        name = JMH_NAMES.get((klass, p.get("variant")), f"{klass}:{p.get('variant')}")
        rows.append((name, p["set"], PARAMS[p["set"]], int(p["threads"]), statistics.median(iterations)))
    return rows


def line_rows(paths):
    rows = []
    for path in paths:
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) != 5 or parts[1] not in PARAMS:
                    continue
                try:
                    rows.append((parts[0], parts[1], int(parts[2]), int(parts[3]), float(parts[4])))
                except ValueError:
                    continue
    return rows


def group(variant):
    return next((i for i, g in enumerate(GROUP_ORDER) if variant.startswith(g)), len(GROUP_ORDER))


def fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def table(rows):
    best_baseline, best_torch = {}, {}
    for v, s, _, t, ms in rows:
        if v in BASELINES and ms < best_baseline.get((s, t), (None, float("inf")))[1]:
            best_baseline[(s, t)] = (v, ms)
        if v.startswith("torch-") and ms < best_torch.get((s, t), (None, float("inf")))[1]:
            best_torch[(s, t)] = (v, ms)
    out = ["| variant | set | params | threads | median ms | GB/s (12 B/param) "
           "| vs baseline: baseline ms / ms (>= 0.85 target) | vs PyTorch: ms / torch best ms (<= 0.8 target) |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for v, s, n, t, ms in sorted(rows, key=lambda r: (SET_ORDER.get(r[1], 9), r[3], group(r[0]), r[0])):
        base = best_baseline.get((s, t))
        torch = best_torch.get((s, t))
        out.append(f"| {v} | {s} | {n:,} | {t} | {ms:.2f} | {n * 12 / ms / 1e6:.1f} "
                   f"| {fmt(base[1] / ms if base else None)} | {fmt(ms / torch[1] if torch else None)} |")
    out.append("")
    for key in sorted(set(best_baseline) | set(best_torch), key=lambda k: (SET_ORDER.get(k[0], 9), k[1])):
        b, p = best_baseline.get(key), best_torch.get(key)
        out.append(f"- {key[0]}, {key[1]} thread(s): best baseline "
                   f"{f'{b[0]} {b[1]:.2f} ms' if b else 'none'}; PyTorch best {f'{p[0]} {p[1]:.2f} ms' if p else 'none'}")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jmh")
    parser.add_argument("--lines", nargs="*", default=[])
    args = parser.parse_args()
    rows = jmh_rows(args.jmh) + line_rows(args.lines)
    if not rows:
        sys.exit("no results to tabulate")
    print(table(rows))


if __name__ == "__main__":
    main()
