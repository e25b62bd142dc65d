# The training set-ups that docs/results.sh and docs/results-models.sh compare, and the seeds; sourced by both.
seeds=(1 2 3)
declare -A setups=(
  [sgd-constant]="--optimizer sgd --lr 0.05 --momentum 0.9 --lr-schedule constant"
  [adam-cosine]="--optimizer adam --lr 0.001 --lr-schedule cosine"
)
common="--batch-size 128 --eval-every 100 --preset short --threads ${THREADS:-2}"
