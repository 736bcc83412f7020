#!/usr/bin/env bash
# Network evaluations per second of the `genetic` pretraining strategy on 1 and
# on 2 threads, and the speedup from the second thread (docs/pretraining/genetic.md).
#
#   bench/genetic_scaling.sh [BUILD_DIR]      (default BUILD_DIR: build)
#
# Runs build/bin/genetic_bench ROUNDS times (default 3; MIN_TIME seconds per
# measurement, default 3), prints every round and the best round of each thread
# count, the machine's load average before and after, and one README-ready line.
# Build it first: cmake --build build --target genetic_bench (needs libbenchmark-dev).
set -euo pipefail
build=${1:-build}
rounds=${ROUNDS:-3}
min_time=${MIN_TIME:-3}
bench="$build/bin/genetic_bench"
python=${PYTHON:-/usr/bin/python3}
[[ -x "$bench" ]] || { echo "genetic_scaling.sh: $bench not found; build it first (cmake --build $build --target genetic_bench)" >&2; exit 1; }

model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
echo "CPU: $model ($(nproc) CPUs); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for ((r = 1; r <= rounds; r++)); do
  "$bench" --benchmark_min_time="$min_time" --benchmark_format=json --benchmark_out_format=json \
    --benchmark_out="$work/round$r.json" >/dev/null
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
"$python" - "$work" "$rounds" "$model" <<'PY'
import json, re, sys
work, rounds, model = sys.argv[1], int(sys.argv[2]), sys.argv[3]
best = {}
for r in range(1, rounds + 1):
    data = json.load(open(f"{work}/round{r}.json"))
    line, rates = [], {}
    for b in data["benchmarks"]:
        if b.get("error_occurred"):
            sys.exit(f"genetic_scaling.sh: {b['name']}: {b.get('error_message')}")
        threads = int(re.search(r"threads:(\d+)", b["name"]).group(1))
        rate = b["evaluations_per_second"]
        best[threads] = max(best.get(threads, 0.0), rate)
        rates[threads] = rate
        line.append(f"{threads} thread{'s' if threads > 1 else ''} {rate:.0f}/s")
    print(f"round {r}: " + ", ".join(line) + f", ratio {rates[2] / rates[1]:.2f}")
one, two = best[1], best[2]
print(f"best of {rounds}: 1 thread {one:.0f} evaluations/s, 2 threads {two:.0f} evaluations/s")
print(f"README: genetic, digits 64-32-10 tanh (population 33, 10 generations), network evaluations per second: "
      f"1 thread {one:.0f}, 2 threads {two:.0f}: **{two / one:.2f}x** (`{model}`, best of {rounds})")
PY
