#!/usr/bin/env bash
# Post-hoc EMA on the full Fashion-MNIST (issue 6, proof (c)): one run that records power-function snapshots,
# then a sweep of sigma_rel on the test set with the raw weights and the run's warmup EMA as reference lines.
# Not yet timed; expect a few minutes more than './ema4j train' alone on 2 cores.
# Usage: docs/posthoc.sh [run-dir]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
run="${1:-$root/runs/posthoc}"
cd "$root"
cmd="./ema4j train --epochs 4 --posthoc-every 100 --posthoc-sigma-rel 0.05,0.10 --out $run"
echo "$cmd"; $cmd
cmd="./ema4j posthoc sweep --snapshots $run/posthoc --out $run/sweep"
echo "$cmd"; $cmd
echo "table: above; plot: $run/sweep/posthoc-sweep.png; values: $run/sweep/posthoc-sweep.csv"
