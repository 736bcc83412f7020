#!/usr/bin/env bash
# make demo: the vanishing gradient problem on the shipped digits data and six
# remedies, each a different set of plugins on the same depth-10 network, run
# as one study (examples/studies/vanishing_gradient.yaml: 7 variants x 3 seeds
# on every core), then the statistics table and the HTML report; then the
# same problem through time, an Elman net against an LSTM on the adding problem.
set -euo pipefail
build=${1:-build}
cd "$(dirname "$0")/.."
gradlab="$build/bin/gradlab"
study=examples/studies/vanishing_gradient.yaml
out="$build/demo/vanishing_gradient"

echo "== gradlab demo: depth 10, width 100, digits (1437 train / 360 test), 30 epochs =="
echo
echo "-- 1. sigmoid + lecun_normal + SGD(lr 0.1), one run: per-layer gradient norms at epoch 0 and 30"
"$gradlab" train examples/specs/sigmoid_deep.yaml --quiet --show-layers
echo
echo "-- 2. the study: baseline vs kumar, yilmaz_poli, batch_norm, residual, relu_he, rprop; 3 seeds each"
# A fresh folder each time: the study folder refuses a changed study file.
rm -rf "$out"
mkdir -p "$(dirname "$out")"
"$gradlab" study run "$study" --out "$out"
echo
"$gradlab" study stats "$out"
echo
"$gradlab" report "$out" -o "$out/report.html"
echo
echo "-- 3. through time: the adding problem (Hochreiter & Schmidhuber 1997) at T = 50, Elman net vs LSTM,"
echo "      the same optimizer and 100,000 training sequences; the error flow by lag at epoch 0 and the end"
for layer in rnn lstm; do
  echo "$layer:"
  "$gradlab" train examples/recurrent/adding_lstm.yaml --quiet --show-layers --set data.length=50 \
    --set optimizer.lr=0.001 --set "model.layers.0={type: $layer, units: 32, sequence: last, recurrent_init: {name: orthogonal}}" |
    grep -v '^ *[01] ' | grep -v '^layer '
done
echo "(success_rate: the fraction of the 2,560 test sequences answered within 0.04; the LSTM study over"
echo " T = 50..500: examples/studies/long_time_lags.yaml)"
echo
echo "Report (open it in a browser; it works offline): $out/report.html"
echo "Every epoch, metric and probe: $gradlab export $out --format csv -o runs.csv"
