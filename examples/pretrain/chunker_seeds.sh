#!/bin/sh
# The README's chunker_lag table: both specs over seeds 1..N (each seed its
# own sequences and initialization), one summary JSON per run, then the table.
#   examples/pretrain/chunker_seeds.sh OUT_DIR [SEEDS] [GRADLAB] [--set ...]
# Extra arguments go to both runs, e.g. --set 'init={name: glorot_uniform}'.
set -eu
out=${1:?usage: chunker_seeds.sh OUT_DIR [SEEDS] [GRADLAB]}
seeds=${2:-10}
gradlab=${3:-build/bin/gradlab}
shift $(($# < 3 ? $# : 3))
here=$(dirname "$0")
mkdir -p "$out"
for spec in chunker_history_compressor chunker_flat_rnn; do
  for seed in $(seq 1 "$seeds"); do
    "$gradlab" train "$here/$spec.yaml" --quiet --set "training.seed=$seed" --json "$out/$spec.$seed.json" "$@"
  done
done
python3 "$here/chunker_table.py" "$out"
