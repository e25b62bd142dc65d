#!/usr/bin/env bash
# Post-hoc EMA on the full Fashion-MNIST: one run that records power-function EMA snapshots of three lengths, then
#  (1) a sweep of sigma_rel on the test set, with the raw weights and the run's warmup EMA as reference lines;
#  (2) the check of the method: sigma_rel 0.10 rebuilt from the 0.05 and 0.15 snapshots only, compared with the 0.10
#      EMA tracked directly in the same run (relative error of the weights, and test accuracy of both).
# About 10 minutes on 2 cores: the training 3, the sweep and the check the rest.
# Usage: docs/posthoc.sh [run-dir]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
run="${1:-$root/runs/posthoc}"
cd "$root"
step() { echo "+ $*"; "$@"; }
step ./ema4j train --epochs 4 --posthoc-every 100 --posthoc-sigma-rel 0.05,0.10,0.15 --out "$run"
step ./ema4j posthoc sweep --snapshots "$run/posthoc" --out "$run/sweep"
echo "sweep table: above; plot: $run/sweep/posthoc-sweep.png; values: $run/sweep/posthoc-sweep.csv"
step ./ema4j posthoc --snapshots "$run/posthoc" --sigma-rel 0.10 --exclude-sigma-rel 0.10 --models \
  --out "$run/heldout"
step ./ema4j evaluate "$run/heldout/models-sigma0.100"
step ./ema4j posthoc --snapshots "$run/posthoc" --sigma-rel 0.10 --models --out "$run/tracked"
step ./ema4j evaluate "$run/tracked/models-sigma0.100"
