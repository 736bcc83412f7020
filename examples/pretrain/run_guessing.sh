#!/bin/sh
# Runs one random-guessing spec over seeds 1..N, one summary JSON per seed:
#   examples/pretrain/run_guessing.sh SPEC N OUT_DIR [gradlab train options...]
# e.g. examples/pretrain/run_guessing.sh examples/pretrain/guess_latch.yaml 40 guess/latch
#      examples/pretrain/run_guessing.sh examples/pretrain/guess_latch.yaml 40 guess/latch_sd \
#          --set data.noise_variance=0.04
# Each seed is a fresh draw of the data set and of the weights (training.seed
# seeds both). $GRADLAB is the CLI (default build/bin/gradlab). Then:
#   examples/pretrain/guess_table.py guess/*
set -eu
spec=$1
n=$2
out=$3
shift 3
gradlab=${GRADLAB:-build/bin/gradlab}
mkdir -p "$out"
i=1
while [ "$i" -le "$n" ]; do
  "$gradlab" train "$spec" -q --set "training.seed=$i" --json "$out/seed$i.json" "$@"
  i=$((i + 1))
done
