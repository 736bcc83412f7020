#!/usr/bin/env bash
# Side-by-side training throughput, gradlab vs PyTorch, one thread each, with
# the BLAS each side really runs.
#
#   bench/compare_pytorch.sh [BUILD_DIR]      (default BUILD_DIR: build)
#
# Runs, for each case, bench/gradlab_bench and bench/pytorch_mlp.py alternately
# for ROUNDS rounds (default 3) and keeps each side's best round, so a busy
# neighbour on a shared machine hurts both sides alike. Environment: ROUNDS,
# MIN_TIME (seconds per measurement, default 2), SGEMM_N (default 2048).
# Needs /usr/bin/python3 (or $PYTHON); without PyTorch it prints gradlab's numbers alone.
#
# The peer must run a real BLAS. bench/blas_info.py asks the PyTorch process
# itself which library its sgemm_ comes from and, for OpenBLAS, which kernel it
# picked. The script prints both, and prints no ratio when PyTorch runs the
# netlib reference BLAS (what Debian's python3-torch gets alone) or an OpenBLAS
# generic kernel (Prescott, ...), saying how to fix it. When OpenBLAS picks a
# kernel below what the CPU can run (a CPU it does not recognise), the peer is
# also run with the right OPENBLAS_CORETYPE and the faster figure is kept.
# OPENBLAS_* variables of the caller's environment are unset for the peer's
# commands only.
#
# It also measures the machine's single-core SGEMM rate (torch.mm of two
# SGEMM_N^2 float32 matrices on the peer's OpenBLAS, best kernel) and prints
# each network's rate in GFLOP/s (6 x parameters x samples/s) and as a share
# of that SGEMM rate.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-build}
rounds=${ROUNDS:-3}
min_time=${MIN_TIME:-2}
sgemm_n=${SGEMM_N:-2048}
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

field() { # field JSON KEY: one value of a JSON object, empty when null or absent
  "$python" -c 'import json, sys; v = json.loads(sys.argv[1]).get(sys.argv[2]); print("" if v is None else v)' "$1" "$2"
}

# --- The CPU, and the OpenBLAS kernel it deserves -----------------------------
cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
vendor=$(sed -n 's/^vendor_id[[:space:]]*: //p' /proc/cpuinfo | head -1)
has() { [[ "$flags" == *" $1 "* ]]; }
generic_cores="Prescott Core2 Katmai Nehalem Atom Penryn Dunnington Barcelona Opteron Athlon Banias Northwood Generic"
if has avx512f && has avx512bw && has avx512vl && has avx512dq; then
  right_core=SkylakeX
  has avx512_bf16 && right_core=Cooperlake
  good_cores="SkylakeX Cooperlake SapphireRapids"
elif has avx2 && has fma; then
  right_core=Haswell
  [[ "$vendor" == AuthenticAMD ]] && right_core=Zen
  good_cores="Haswell Zen SkylakeX Cooperlake SapphireRapids"
elif has avx; then
  right_core=Sandybridge
  good_cores="Sandybridge Haswell Zen SkylakeX Cooperlake SapphireRapids"
else
  right_core=""
  good_cores=""
fi
in_list() { [[ " $2 " == *" $1 "* ]]; }

# --- The peer: which BLAS and kernel PyTorch really runs ----------------------
peer_env=(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE -u OPENBLAS_VERBOSE -u OPENBLAS_NUM_THREADS
  OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1)
have_torch=1
variants=()     # names of the peer's environments that run a proper OpenBLAS kernel
declare -A variant_env variant_core variant_note
refusal=""
if ! auto_info=$("${peer_env[@]}" "$python" "$here/blas_info.py" 2>&1); then
  have_torch=0
  echo "compare_pytorch.sh: PyTorch is not available to $python (apt-get install python3-torch, or make bench-deps); showing gradlab alone." >&2
  echo "  $(echo "$auto_info" | tail -1)" >&2
else
  auto_info=$(echo "$auto_info" | tail -1)
  torch_version=$(field "$auto_info" torch)
  blas=$(field "$auto_info" blas)
  sgemm_from=$(field "$auto_info" sgemm_from)
  core=$(field "$auto_info" core)
  peer_line="PyTorch $torch_version: sgemm_ from ${sgemm_from:-?} ($blas"
  [[ -n "$core" ]] && peer_line+=", $(field "$auto_info" config | cut -d' ' -f1-2), kernel $core, $(field "$auto_info" threads) thread"
  peer_line+=")"
  if [[ "$blas" != openblas ]]; then
    arch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
    refusal="PyTorch runs the ${blas} BLAS (${sgemm_from:-no sgemm_ found}), not OpenBLAS: its large products are
10-20x slower than this CPU allows, so a ratio would flatter gradlab. Fix: apt-get install libopenblas0-pthread
(make bench-deps does), and if libblas.so.3 still points elsewhere:
  update-alternatives --set libblas.so.3-$arch /usr/lib/$arch/openblas-pthread/libblas.so.3"
  else
    if ! in_list "$core" "$generic_cores"; then
      variants+=(auto)
      variant_env[auto]=""
      variant_core[auto]=$core
      variant_note[auto]="OpenBLAS's own detection"
    fi
    # A kernel below what the CPU runs: OpenBLAS did not recognise it. Try the right one too.
    if [[ -n "$right_core" ]] && ! in_list "$core" "$good_cores"; then
      if forced_info=$("${peer_env[@]}" OPENBLAS_CORETYPE=$right_core "$python" "$here/blas_info.py" 2>/dev/null); then
        forced_core=$(field "$(echo "$forced_info" | tail -1)" core)
        if [[ -n "$forced_core" ]] && ! in_list "$forced_core" "$generic_cores"; then
          variants+=(forced)
          variant_env[forced]="OPENBLAS_CORETYPE=$right_core"
          variant_core[forced]=$forced_core
          variant_note[forced]="OPENBLAS_CORETYPE=$right_core"
        fi
      fi
    fi
    if ((${#variants[@]} == 0)); then
      refusal="PyTorch's OpenBLAS runs its generic $core kernel on this CPU${right_core:+ (and OPENBLAS_CORETYPE=$right_core did not take)}:
its products are several times slower than this CPU allows, so a ratio would flatter gradlab. Fix: an OpenBLAS
that knows this CPU (Debian 12's 0.3.21 knows Haswell, Zen, SkylakeX, Cooperlake), or set OPENBLAS_CORETYPE for the peer."
    fi
  fi
fi

cases=("mlp_64-100x10-10_sigmoid/batch:32" "mlp_784-1024x4-10_sigmoid/batch:256" "lstm_2-64-1_T100/batch:32"
  "rbm_cd1_784x500/batch:100")
results=$(mktemp)
gradlab_context=$(mktemp)
trap 'rm -f "$results" "$gradlab_context"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

for ((round = 1; round <= rounds; round++)); do
  for c in "${cases[@]}"; do
    # Escape the regex characters of the case name for --benchmark_filter.
    filter=$(printf '%s' "train/$c" | sed 's/[.[\*^$()+?{|]/\\&/g')
    "$bench" --benchmark_filter="^${filter}/" --benchmark_min_time="$min_time" --benchmark_format=json 2>/dev/null |
      "$python" -c '
import json, sys
run = json.load(sys.stdin)
for b in run["benchmarks"]:
    if "samples_per_second" in b:
        cpu_rate = b["samples_per_second"] * b["real_time"] / b["cpu_time"]  # samples per CPU second
        print("gradlab", sys.argv[1], b["samples_per_second"], cpu_rate, int(b.get("params", 0)))
# What runs gradlab'"'"'s products: the backend, and the OpenBLAS this process bound.
c = run.get("context", {})
backend = c.get("gradlab_gemm_backend", "eigen")
library = c.get("gradlab_blas_library", "?")
version = " ".join(c.get("gradlab_blas_config", "").split()[:2])
kernel = c.get("gradlab_blas_core", "?")
with open(sys.argv[2], "w") as out:
    if backend != "eigen":
        out.write(f"matrix products on {backend} ({library}, {version}, kernel {kernel}), Eigen for small ones\n")
    else:
        out.write("matrix products on the Eigen kernel only\n")
' "$c" "$gradlab_context" >>"$results"
    if ((have_torch)); then
      run_variants=("${variants[@]}")
      ((${#run_variants[@]} == 0)) && run_variants=(auto) && variant_env[auto]=""
      for v in "${run_variants[@]}"; do
        # shellcheck disable=SC2086  # variant_env holds zero or one VAR=VALUE word
        "${peer_env[@]}" ${variant_env[$v]} "$python" "$here/pytorch_mlp.py" --filter "train/$c" --min-time "$min_time" |
          sed "s/^train\//pytorch:$v /" >>"$results"
      done
    fi
  done
  # The machine's single-core SGEMM, on the peer's OpenBLAS with each proper kernel.
  for v in "${variants[@]}"; do
    # shellcheck disable=SC2086
    info=$("${peer_env[@]}" ${variant_env[$v]} "$python" "$here/blas_info.py" --sgemm "$sgemm_n" --min-time 0.5 | tail -1)
    echo "sgemm:$v - $(field "$info" sgemm_gflops) $(field "$info" sgemm_cpu_gflops)" >>"$results"
  done
done

echo "Training throughput, samples/s, one thread each, best of $rounds alternating rounds of ${min_time}s"
echo "CPU: ${cpu_model:-unknown} ($(uname -m), $(nproc) CPUs; load average $load_before before, $(cut -d' ' -f1-3 /proc/loadavg) after)"
echo "gradlab: $(cat "$gradlab_context")"
if ((have_torch)); then
  echo "$peer_line"
  for v in "${variants[@]}"; do
    if [[ "$v" == forced ]]; then
      if in_list "$core" "$generic_cores"; then
        echo "  OpenBLAS picked its generic $core kernel on this CPU (not measured); run with ${variant_note[$v]}: kernel ${variant_core[$v]}"
      else
        echo "  also run with ${variant_note[$v]}: kernel ${variant_core[$v]} (OpenBLAS picked $core on this CPU); the faster figure is kept"
      fi
    fi
  done
fi
if [[ -n "$refusal" ]]; then
  echo
  echo "NO RATIO: $refusal"
  echo
fi
"$python" - "$results" "$have_torch" "$([[ -n "$refusal" ]] && echo 0 || echo 1)" "$sgemm_n" "${cases[@]}" <<'EOF'
import sys
path, have_torch, ratio_ok, sgemm_n, cases = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1", sys.argv[4], sys.argv[5:]
# best[(side, name)] = [best wall-clock rate, best CPU-time rate]
best, params, peer_variant = {}, {}, {}
for line in open(path):
    side, name, wall, cpu, *rest = line.split()
    if wall in ("", "None"):
        continue
    if side.startswith("pytorch:"):
        variant = side.split(":", 1)[1]
        if float(wall) > best.get(("pytorch", name), [0.0, 0.0])[0]:
            peer_variant[name] = variant
        side = "pytorch"
    elif side.startswith("sgemm:"):
        side, name = "sgemm", "sgemm"
    if rest:
        params[name] = int(rest[0])
    b = best.setdefault((side, name), [0.0, 0.0])
    b[0] = max(b[0], float(wall))
    b[1] = max(b[1], float(cpu))
sgemm = best.get(("sgemm", "sgemm"))
if sgemm:
    print(f"Single-core SGEMM on this machine (PyTorch's OpenBLAS, torch.mm {sgemm_n}^3, 1 thread): "
          f"{sgemm[0]:.1f} GFLOP/s ({sgemm[1]:.1f} per CPU second)")
head = ["case (SGD; MLPs: sigmoid, cross-entropy; LSTM: MSE; RBM: CD-1)", "gradlab", "PyTorch", "gradlab/PyTorch", "gradlab GFLOP/s",
        "of SGEMM", "CPU-time ratio", "CPU-time of SGEMM"]
rows = []
for c in cases:
    g = best.get(("gradlab", c))
    t = best.get(("pytorch", c)) if have_torch else None
    cells = [c, f"{g[0]:,.0f}" if g else "failed"]
    ts = f"{t[0]:,.0f}" if t else ("n/a" if not have_torch else "failed")
    if t and peer_variant.get(c) == "forced":
        ts += " *"
    cells.append(ts)
    cells.append(f"{g[0] / t[0]:.2f}x" if g and t and ratio_ok else "n/a")
    gflops = [6.0 * params.get(c, 0) * r / 1e9 for r in g] if g else None
    cells.append(f"{gflops[0]:.1f}" if gflops else "n/a")
    cells.append(f"{100.0 * gflops[0] / sgemm[0]:.0f}%" if gflops and sgemm else "n/a")
    cells.append(f"{g[1] / t[1]:.2f}x" if g and t and ratio_ok else "n/a")
    cells.append(f"{100.0 * gflops[1] / sgemm[1]:.0f}%" if gflops and sgemm else "n/a")
    rows.append(cells)
widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
print("| " + " | ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(head)) + " |")
print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
for r in rows:
    print("| " + " | ".join(v.ljust(widths[0]) if i == 0 else v.rjust(widths[i]) for i, v in enumerate(r)) + " |")
if any(peer_variant.get(c) == "forced" for c in cases):
    print("* PyTorch's best figure came with the forced OPENBLAS_CORETYPE")
print("Samples/s over wall time. GFLOP/s = 6 x parameters x samples/s (forward and two backward products per")
print("weight; the RBM: 10 x visible x hidden per sample, five products). The CPU-time columns divide by each")
print("process's CPU time instead (samples or flops per CPU second):")
print("the steadier comparison when other processes share the cores (load average above the CPU count).")
EOF
