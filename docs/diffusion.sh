#!/usr/bin/env bash
# The diffusion row of the claims table: a small DDPM U-Net on the full Fashion-MNIST, its raw weights vs its EMA vs
# post-hoc EMAs, scored by the Frechet distance of 2,000 DDIM samples per variant and sampling seed (2 seeds) to 2,000
# real test images in the features of a ResNet classifier trained here. That distance is NOT Inception FID and not
# comparable with published FIDs; the classifier's SHA-256 is recorded at first and checked by every later scoring.
#
# Measured with THREADS=1 beside another one-thread training on the 2 cores (2026-12-03): the classifier (ResNet,
# 5 epochs) 159 s; the diffusion training (20 epochs = 9,380 steps, snapshots every 500 steps, checkpoints every
# 1,000) 3,443 s; scoring 10 variants (raw, EMA, 8 post-hoc lengths) x 2 seeds x 2,000 images x 25 DDIM steps about
# 10 minutes. In all about 75 minutes.
#
# Resumable: a finished stage is skipped (classifier model, diffusion models, score CSV); an interrupted diffusion
# training resumes from its newest checkpoint (--resume latest). Needs 'ema4j train --model'.
# Usage: docs/diffusion.sh [runs-dir]
# A tiny run to check the wiring (a minute): DATA=testdata/fashion-mnist-subset TRAIN_LIMIT=256 EPOCHS=1 BATCH=16 \
#   POSTHOC_EVERY=4 CHECKPOINT_EVERY=8 SAMPLES=32 DDIM_STEPS=2 CLASSIFIER_MODEL=cnn CLASSIFIER_EPOCHS=1 \
#   docs/diffusion.sh /tmp/diffusion-tiny
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${1:-$root/runs/diffusion}"
epochs="${EPOCHS:-20}"
batch="${BATCH:-128}"
posthoc_every="${POSTHOC_EVERY:-500}"
checkpoint_every="${CHECKPOINT_EVERY:-1000}"
samples="${SAMPLES:-2000}"
ddim_steps="${DDIM_STEPS:-25}"
threads="${THREADS:-2}"
classifier_model="${CLASSIFIER_MODEL:-resnet}"
classifier_epochs="${CLASSIFIER_EPOCHS:-5}"
data=(); [ -n "${DATA:-}" ] && data=(--data "$DATA")
limit=(); [ -n "${TRAIN_LIMIT:-}" ] && limit=(--train-limit "$TRAIN_LIMIT")
mkdir -p "$runs"

run() {   # run LOG COMMAND...: prints the command, runs it from the root, keeps its output in LOG
  local log="$1"; shift
  echo "$*"
  (cd "$root" && "$@" > "$log" 2>&1) || { echo "failed: see $log"; exit 1; }
}

# 1. The classifier: its weights are the ruler, so its SHA-256 is recorded once and every scoring checks it.
classifier="$runs/classifier/models/fmnist-raw-0000.params"
if [ ! -f "$classifier" ]; then
  model=(); [ "$classifier_model" != cnn ] && model=(--model "$classifier_model")   # cnn is train's default
  run "$runs/classifier.log" ./ema4j train "${model[@]}" --optimizer adam --lr 0.001 --lr-schedule cosine \
    --epochs "$classifier_epochs" --batch-size 128 --eval-every 1000 --seed 1 --threads "$threads" "${data[@]}" --out "$runs/classifier"
fi
[ -f "$runs/classifier.sha256" ] || sha256sum "$classifier" | cut -d' ' -f1 > "$runs/classifier.sha256"
echo "classifier $classifier: sha256 $(cat "$runs/classifier.sha256")"

# 2. The diffusion model, with post-hoc snapshots; resumed when an earlier invocation was interrupted.
diffusion="$runs/diffusion"
if [ ! -f "$diffusion/models/unet-ema.safetensors" ]; then
  resume=(); [ -n "$(ls -A "$diffusion/checkpoints" 2>/dev/null | grep '^step-')" ] && resume=(--resume latest)
  run "$runs/diffusion-train.log" ./ema4j diffusion train --epochs "$epochs" --batch-size "$batch" --lr 2e-4 \
    --seed 1 --posthoc-every "$posthoc_every" --posthoc-sigma-rel 0.05,0.10 --checkpoint-every "$checkpoint_every" --threads "$threads" \
    "${resume[@]}" "${limit[@]}" "${data[@]}" --out "$diffusion"
fi

# 3. The score: raw, EMA and the post-hoc sweep, 2 sampling seeds each, beside the real-vs-real noise floor.
if [ ! -f "$runs/score/diffusion-score.csv" ]; then
  run "$runs/diffusion-score.log" ./ema4j diffusion score --run "$diffusion" --classifier "$classifier" \
    --classifier-sha256 "$(cat "$runs/classifier.sha256")" --classifier-model "$classifier_model" \
    --samples "$samples" --ddim-steps "$ddim_steps" --sigma-rel 0.03,0.05,0.07,0.10,0.12,0.15,0.20,0.25 \
    --sampling-seeds 1,2 --threads "$threads" "${data[@]}" --out "$runs/score"
fi
sed -n '/^variant/,/^best/p' "$runs/diffusion-score.log"
echo "pictures: $runs/score/diffusion-sweep.png, $runs/score/diffusion-samples.png"
