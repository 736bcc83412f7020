#!/usr/bin/env bash
# Runs libFuzzer harnesses of a fuzz build (make fuzz-build) for SECONDS each:
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]    (default: every target)
#
# Each target starts from a scratch copy of tests/fuzz/corpus/<target>/ (new
# inputs go there, so the repository's corpus stays as it is) and first replays
# tests/fuzz/regressions/<target>/. A crash, sanitizer report, leak, timeout or
# allocation above the memory limit fails the run; its reproducer is kept in
# BUILD_DIR/fuzz-artifacts/<target>/ and the log in BUILD_DIR/fuzz-logs/.
# Replay one input: BUILD_DIR/bin/fuzz_<target> FILE.
# Prints each target's executions per second (libFuzzer's final stats) at the end.
set -uo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
  exit 2
fi
build=$(cd "$1" && pwd) || exit 2
seconds=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(spec idx csv safetensors)

# The largest input each target is given (bytes), and what its memory may be:
# a single allocation above RSS_LIMIT_MB (libFuzzer's -malloc_limit_mb defaults
# to it) is a finding: huge declared sizes must be refused, not allocated.
declare -A max_len=([spec]=4096 [idx]=4096 [csv]=4096 [safetensors]=4096)
RSS_LIMIT_MB=${RSS_LIMIT_MB:-1024}
# One input that runs longer than this (seconds) is a finding too.
UNIT_TIMEOUT=${UNIT_TIMEOUT:-25}

export ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_stack_use_after_return=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ -n "${LLVM_SYMBOLIZER:-}" ] && [ -x "${LLVM_SYMBOLIZER}" ]; then
  export ASAN_SYMBOLIZER_PATH=$LLVM_SYMBOLIZER
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/gradlab-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$build/fuzz-artifacts" "$build/fuzz-logs"

failed=()
summary=()
for t in "${targets[@]}"; do
  exe=$build/bin/fuzz_$t
  if [ ! -x "$exe" ]; then
    echo "fuzz: no $exe (make fuzz-build)" >&2
    failed+=("$t")
    continue
  fi
  corpus=$scratch/$t
  mkdir -p "$corpus" "$build/fuzz-artifacts/$t"
  [ -d "$here/corpus/$t" ] && cp -R "$here/corpus/$t/." "$corpus/"
  extra=()
  [ -d "$here/regressions/$t" ] && extra+=("$here/regressions/$t")
  dict=()
  [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
  log=$build/fuzz-logs/$t.log
  echo "fuzz: $t for ${seconds}s (log: $log)"
  "$exe" -max_total_time="$seconds" -rss_limit_mb="$RSS_LIMIT_MB" -max_len="${max_len[$t]:-4096}" \
    -timeout="$UNIT_TIMEOUT" -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$t/" "${dict[@]}" \
    "$corpus" "${extra[@]}" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::average_exec_per_sec:[[:space:]]*//p' "$log" | tail -n 1)
  runs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -n 1)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    echo "fuzz: $t FAILED (exit $rc); the report:"
    grep -E '^==[0-9]+==ERROR|^SUMMARY|runtime error|terminate called|what\(\)|out-of-memory|ERROR: libFuzzer' "$log" | head -n 8 | sed 's/^/    /'
    reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    echo "    reproducer: ${reproducer:-(none written; see the log)}"
    [ -n "$reproducer" ] && echo "    replay: $exe $reproducer"
  fi
  summary+=("$(printf '%-12s %-6s %10s exec/s %10s runs  cov %s' "$t" "$([ $rc -eq 0 ] && echo ok || echo FAIL)" \
    "${execs:--}" "${runs:--}" "${cov:--}")")
done

echo
echo "fuzz summary (${seconds}s per target, $(nproc) cores, ASan+UBSan):"
printf '  %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in: ${failed[*]}" >&2
  exit 1
fi
