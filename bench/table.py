#!/usr/bin/env python3
"""Combines one run's rounds of JMH results and C/PyTorch lines into one markdown table (stdlib only).

Inputs: --round DIR, once per round; each DIR holds jmh.json (JMH's -rf json output, sample mode, whose median
update is taken, or average mode, the median of its iterations; may be missing), c.txt and
torch.txt (lines "variant set params threads median_ms" from bench/c/ema_update.c and bench/torch_peer.py; other
lines are ignored). A round runs every variant once, so the ratios are taken within a round, where the machine's
state was alike for all, and the table gives the median over rounds with the range in parentheses.
Columns: GB/s counts 12 bytes per float32 parameter (read live, read and write shadow). "vs baseline" is
best_baseline_ms / ms at the same set and threads, the baseline being the fastest of java-baseline, c-contiguous and
c-tensors in this run: 1 = as fast, >= 0.85 is the target for ema4j. "vs PyTorch" is ms / best_torch_ms at the same
set and threads: < 1 = faster than PyTorch's best variant, <= 0.9 is the target.
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
    ("DjlUpdateBenchmark", "ema4j-device"): "djl-ema4j-device",
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
        metric = r["primaryMetric"]
        if metric["scoreUnit"] != "ms/op":
            sys.exit(f"expected ms/op from {r['benchmark']}, got {metric['scoreUnit']}")
        if r["mode"] == "sample":
            # the median of every timed update, as the C and PyTorch lines give it
            ms = metric["scorePercentiles"]["50.0"]
        elif r["mode"] == "avgt":
            ms = statistics.median(x for fork in metric["rawData"] for x in fork)
        else:
            sys.exit(f"expected JMH's sample or avgt mode from {r['benchmark']}, got {r['mode']}")
        name = JMH_NAMES.get((klass, p.get("variant")), f"{klass}:{p.get('variant')}")
        rows.append((name, p["set"], PARAMS[p["set"]], int(p["threads"]), ms))
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


def best_per_key(rows):
    """(set, threads) -> (variant, ms) of the fastest baseline, and the same for PyTorch's variants."""
    best_baseline, best_torch = {}, {}
    for v, s, _, t, ms in rows:
        if v in BASELINES and ms < best_baseline.get((s, t), (None, float("inf")))[1]:
            best_baseline[(s, t)] = (v, ms)
        if v.startswith("torch-") and ms < best_torch.get((s, t), (None, float("inf")))[1]:
            best_torch[(s, t)] = (v, ms)
    return best_baseline, best_torch


def summarize(rounds):
    """Per variant: the median over rounds of its ms and of its two ratios, each ratio taken within one round."""
    per_variant = {}
    for rows in rounds:
        best_baseline, best_torch = best_per_key(rows)
        for v, s, n, t, ms in rows:
            base, torch = best_baseline.get((s, t)), best_torch.get((s, t))
            entry = per_variant.setdefault((v, s, n, t), {"ms": [], "base": [], "torch": []})
            entry["ms"].append(ms)
            if base:
                entry["base"].append(base[1] / ms)
            if torch:
                entry["torch"].append(ms / torch[1])
    return per_variant


def spread(values):
    """The median, with the range over rounds when there was more than one."""
    if not values:
        return "-"
    med = f"{statistics.median(values):.2f}"
    return med if len(values) == 1 else f"{med} ({min(values):.2f}-{max(values):.2f})"


def table(rounds):
    per_variant = summarize(rounds)
    out = ["| variant | set | params | threads | median ms | GB/s (12 B/param) "
           "| vs baseline: baseline ms / ms (>= 0.85 target) | vs PyTorch: ms / torch best ms (<= 0.9 target) |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for (v, s, n, t), e in sorted(per_variant.items(),
                                  key=lambda kv: (SET_ORDER.get(kv[0][1], 9), kv[0][3], group(kv[0][0]), kv[0][0])):
        ms = statistics.median(e["ms"])
        out.append(f"| {v} | {s} | {n:,} | {t} | {spread(e['ms'])} | {n * 12 / ms / 1e6:.1f} "
                   f"| {spread(e['base'])} | {spread(e['torch'])} |")
    out.append("")
    for i, rows in enumerate(rounds, 1):
        best_baseline, best_torch = best_per_key(rows)
        for key in sorted(set(best_baseline) | set(best_torch), key=lambda k: (SET_ORDER.get(k[0], 9), k[1])):
            b, p = best_baseline.get(key), best_torch.get(key)
            out.append(f"- round {i}, {key[0]}, {key[1]} thread(s): best baseline "
                       f"{f'{b[0]} {b[1]:.2f} ms' if b else 'none'}; "
                       f"PyTorch best {f'{p[0]} {p[1]:.2f} ms' if p else 'none'}")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--round", action="append", default=[], metavar="DIR",
                        help="a round's directory holding jmh.json, c.txt and torch.txt; repeat for each round")
    args = parser.parse_args()
    rounds = []
    for d in args.round:
        rows = jmh_rows(os.path.join(d, "jmh.json")) + line_rows(
            [os.path.join(d, "c.txt"), os.path.join(d, "torch.txt")])
        if rows:
            rounds.append(rows)
    if not rounds:
        sys.exit("no results to tabulate")
    print(table(rounds))


if __name__ == "__main__":
    main()
