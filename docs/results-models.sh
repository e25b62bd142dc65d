#!/usr/bin/env bash
# docs/results.sh for the other two classifiers: the ResNet (--model resnet, BatchNorm) and the Vision Transformer
# (--model vit, LayerNorm, no BatchNorm), each in the same two set-ups x three seeds on the full Fashion-MNIST, raw vs
# EMA weights, with post-hoc EMA snapshots recorded as docs/posthoc.sh does ('ema4j posthoc' reads OUT/posthoc).
# Each run is one ./ema4j train command (printed before it runs); 'ema4j compare' aggregates the seeds.
#
# Each run is followed by 'ema4j posthoc sweep' over sigma_rel 0.03-0.25 (OUT/sweep; 'ema4j compare' reports the best),
# and for the ResNet by the run's EMA with BatchNorm recalibrated (OUT/ema-bn), to tell the two effects apart.
# Epochs: 4 for both models. Measured with THREADS=1 beside the diffusion training on the 2 cores (2026-12-03): a
# ResNet run 161-206 s, a ViT run 124-192 s, a sweep about 30 s; all 12 runs about 45 minutes.
#
# Resumable: a run whose OUT/models exists is skipped, and a run killed midway continues from its newest checkpoint
# (--resume latest), so running the script again after a kill finishes what is left.
# Usage: docs/results-models.sh [runs-dir [more train options]], e.g. a smoke test of all 12 runs in about 5 minutes:
#   docs/results-models.sh /tmp/smoke --train-limit 640 --test-limit 200
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-$root/runs/results-models}"
shift || true
more="$*"
mkdir -p "$runs"
source "$root/docs/setups.sh"
common="--epochs 4 $common --checkpoint-every 200"
posthoc="--posthoc-every 100 --posthoc-sigma-rel 0.05,0.10"
# the post-hoc sweep of each run (OUT/sweep), BatchNorm recalibrated over 50 batches; 'ema4j compare' reports its best
sweep="--sigma-rel 0.03,0.05,0.08,0.10,0.15,0.20,0.25 --bn-batches 50 --threads ${THREADS:-2}"
limits="$(echo "$more" | grep -oE -- '--(train|test)-limit [0-9]+' | tr '\n' ' ' | sed 's/ $//' || true)"
for model in resnet vit; do
  for setup in sgd-constant adam-cosine; do
    for seed in "${seeds[@]}"; do
      out="$runs/$model-$setup-seed$seed"
      if [ -f "$out/models/fmnist-raw-0000.params" ]; then
        echo "# trained already: $out"
      else
        resume=""
        if compgen -G "$out/checkpoints/step-*" > /dev/null; then
          resume="--resume latest"
        fi
        cmd="./ema4j train --model $model ${setups[$setup]} $common $posthoc --seed $seed --out $out${resume:+ $resume}${more:+ $more}"
        echo "$cmd"
        (cd "$root" && $cmd >> "$out.log" 2>&1) || { echo "failed: see $out.log"; exit 1; }
      fi
      if [ ! -f "$out/sweep/posthoc-sweep.csv" ]; then
        cmd="./ema4j posthoc sweep --model $model --snapshots $out/posthoc $sweep --out $out/sweep${limits:+ $limits}"
        echo "$cmd"
        (cd "$root" && $cmd >> "$out.log" 2>&1) || { echo "failed: see $out.log"; exit 1; }
      fi
      # the run's EMA with its BatchNorm statistics recomputed as the post-hoc EMAs' are, to tell the two effects apart
      if [ "$model" = resnet ] && [ ! -f "$out/ema-bn/evaluate.txt" ]; then
        cmd="./ema4j recalibrate-bn --model $model $out/models --batches 50 --into $out/ema-bn --threads ${THREADS:-2}"
        echo "$cmd"
        (cd "$root" && $cmd >> "$out.log" 2>&1) || { echo "failed: see $out.log"; exit 1; }
        cmd="./ema4j evaluate --model $model $out/ema-bn --threads ${THREADS:-2}${limits:+ $limits}"
        echo "$cmd"
        (cd "$root" && $cmd > "$out/ema-bn/evaluate.txt" 2>> "$out.log") || { echo "failed: see $out.log"; exit 1; }
      fi
    done
    if [ "$model" = resnet ]; then
      echo "the run's EMA with BatchNorm recalibrated, test accuracy (%) over the seeds:"
      cat "$runs/$model-$setup-seed"{1,2,3}/ema-bn/evaluate.txt | awk '$1 == "EMA" { sub("%", "", $3); x[n++] = $3 }
        END { for (i = 0; i < n; i++) m += x[i] / n; for (i = 0; i < n; i++) v += (x[i] - m) ^ 2 / (n - 1)
              printf "  %.2f ± %.2f\n", m, sqrt(v) }'
    fi
    echo "./ema4j compare $runs/$model-$setup-seed{1,2,3}"
    (cd "$root" && ./ema4j compare "$runs/$model-$setup-seed1" "$runs/$model-$setup-seed2" "$runs/$model-$setup-seed3")
  done
done
