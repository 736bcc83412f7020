#!/usr/bin/env bash
# Side-by-side training throughput, gradlab vs PyTorch, one thread each.
#
#   bench/compare_pytorch.sh [BUILD_DIR]      (default BUILD_DIR: build)
#
# Runs, for each case, bench/gradlab_bench and bench/pytorch_mlp.py alternately
# for ROUNDS rounds (default 3) and keeps each side's best round, so a busy
# neighbour on a shared machine hurts both sides alike and the table shows what
# each can do. Environment: ROUNDS, MIN_TIME (seconds per measurement, default 2).
# Needs /usr/bin/python3 (or $PYTHON); without PyTorch it prints gradlab's numbers alone.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-build}
rounds=${ROUNDS:-3}
min_time=${MIN_TIME:-2}
bench="$build/bin/gradlab_bench"
python=${PYTHON:-/usr/bin/python3}

if [[ ! -x "$bench" ]]; then
  echo "compare_pytorch.sh: $bench not found; build it first (make build, or cmake --build $build --target gradlab_bench)." >&2
  echo "  (gradlab_bench needs Google Benchmark: apt-get install libbenchmark-dev)" >&2
  exit 1
fi
if [[ ! -x "$python" ]]; then
  echo "compare_pytorch.sh: $python not found; it parses the results" >&2
  exit 1
fi

# PyTorch runs with OpenBLAS's own CPU detection and one thread; these
# variables are changed for that command alone.
torch_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1)
have_torch=1
torch_note=""
if ! torch_probe=$("${torch_env[@]}" OPENBLAS_VERBOSE=2 "$python" -c 'import torch; print("torch", torch.__version__)' 2>&1); then
  have_torch=0
  echo "compare_pytorch.sh: PyTorch is not available to $python (apt-get install python3-torch); showing gradlab alone." >&2
  echo "  $(echo "$torch_probe" | tail -1)" >&2
else
  core=$(echo "$torch_probe" | sed -n 's/^Core: //p' | head -1)
  torch_note="$(echo "$torch_probe" | grep '^torch ' | head -1)${core:+, OpenBLAS core $core}"
fi

cases=("mlp_64-100x10-10_sigmoid/batch:32" "mlp_784-1024x4-10_sigmoid/batch:256")
results=$(mktemp)
trap 'rm -f "$results"' EXIT

for ((round = 1; round <= rounds; round++)); do
  for c in "${cases[@]}"; do
    # Escape the regex characters of the case name for --benchmark_filter.
    filter=$(printf '%s' "train/$c" | sed 's/[.[\*^$()+?{|]/\\&/g')
    "$bench" --benchmark_filter="^${filter}/" --benchmark_min_time="$min_time" --benchmark_format=json 2>/dev/null |
      "$python" -c '
import json, sys
for b in json.load(sys.stdin)["benchmarks"]:
    if "samples_per_second" in b:
        print("gradlab", sys.argv[1], b["samples_per_second"])
' "$c" >>"$results"
    if ((have_torch)); then
      "${torch_env[@]}" "$python" "$here/pytorch_mlp.py" --filter "train/$c" --min-time "$min_time" |
        sed 's/^train\//pytorch /' >>"$results"
    fi
  done
done

echo "Training throughput, samples/s, one thread, best of $rounds rounds of ${min_time}s"
echo "($(uname -m), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg); ${torch_note:-PyTorch not available})"
case "${core:-}" in
  Prescott | Core2 | Katmai | Nehalem | Atom | Penryn | Dunnington)
    echo "(note: OpenBLAS did not recognise this CPU and runs its old ${core} kernels, so PyTorch's large"
    echo " matrix products are far slower here than on a CPU it detects; the ratio then flatters gradlab)"
    ;;
esac
"$python" - "$results" "$have_torch" "${cases[@]}" <<'EOF'
import sys
path, have_torch, cases = sys.argv[1], sys.argv[2] == "1", sys.argv[3:]
best = {}
for line in open(path):
    side, name, value = line.split()
    key = (side, name)
    best[key] = max(best.get(key, 0.0), float(value))
header = f"| {'case (sigmoid MLP, SGD, cross-entropy)':<40} | {'gradlab':>10} | {'PyTorch':>10} | {'gradlab/PyTorch':>15} |"
print(header)
print("|" + "|".join("-" * (len(cell) + 0) for cell in header.split("|")[1:-1]) + "|")
for c in cases:
    g = best.get(("gradlab", c))
    t = best.get(("pytorch", c)) if have_torch else None
    ratio = f"{g / t:.2f}x" if g and t else "n/a"
    gs = f"{g:,.0f}" if g else "failed"
    ts = f"{t:,.0f}" if t else ("n/a" if not have_torch else "failed")
    print(f"| {c:<40} | {gs:>10} | {ts:>10} | {ratio:>15} |")
EOF
