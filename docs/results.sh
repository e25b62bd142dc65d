#!/usr/bin/env bash
# Reproduces docs/RESULTS.md: two training set-ups x three seeds on the full Fashion-MNIST, raw vs EMA weights.
# Each run is one ./ema4j train command (printed before it runs); 'ema4j compare' aggregates the seeds.
# Takes about 20-25 minutes on 2 idle cores, about 40 when other work shares them. Usage: docs/results.sh [runs-dir]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-$root/runs/results}"
mkdir -p "$runs"
source "$root/docs/setups.sh"
common="--epochs 3 $common"
for setup in sgd-constant adam-cosine; do
  for seed in "${seeds[@]}"; do
    cmd="./ema4j train ${setups[$setup]} $common --seed $seed --out $runs/$setup-seed$seed"
    echo "$cmd"
    (cd "$root" && $cmd > "$runs/$setup-seed$seed.log" 2>&1) || { echo "failed: see $runs/$setup-seed$seed.log"; exit 1; }
  done
  echo "./ema4j compare $runs/$setup-seed{1,2,3}"
  (cd "$root" && ./ema4j compare "$runs/$setup-seed1" "$runs/$setup-seed2" "$runs/$setup-seed3")
done
