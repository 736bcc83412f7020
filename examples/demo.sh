#!/usr/bin/env bash
# make demo: the vanishing gradient problem on the shipped digits data, and five
# remedies, each a different set of plugins on the same depth-10 network.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
gradlab="$build/bin/gradlab"
specs=examples/specs

echo "== gradlab demo: depth 10, width 100, digits (1437 train / 360 test), 30 epochs =="
echo
echo "-- 1. sigmoid + lecun_normal + SGD(lr 0.1): per-layer gradient norms at epoch 0 and 30"
"$gradlab" train "$specs/sigmoid_deep.yaml" --quiet --show-layers
echo
echo "-- 2. the same network with each remedy (|g_first|/|g_last| = first over last dense layer's gradient norm at epoch 0)"
printf '%-22s %s\n' "spec" "result"
for name in sigmoid_deep sigmoid_kumar relu_he sigmoid_batchnorm sigmoid_residual sigmoid_rprop; do
  spec="$specs/$name.yaml"
  [ -f "$spec" ] || { printf '%-22s %s\n' "$name" "(spec missing)"; continue; }
  line=$("$gradlab" train "$spec" --quiet | grep '^status')
  printf '%-22s %s\n' "$name" "$line"
done
echo
echo "Per-epoch curves and probes: gradlab train SPEC --json run.json (see README, 'Run summary')."
