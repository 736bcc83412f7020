#!/usr/bin/python3
"""Which BLAS PyTorch really runs in this process, and how fast its SGEMM is.

  blas_info.py [--sgemm N] [--min-time S]

Imports torch, runs one matrix product (so the BLAS is loaded and initialised),
then finds, in this very process, the library whose sgemm_ PyTorch's CPU
library binds to (dlsym from libtorch_cpu's handle, then dladdr: a mapped
OpenBLAS does not mean OpenBLAS runs, when libblas.so.3 is the reference one),
lists the BLAS libraries mapped (/proc/self/maps) and, for OpenBLAS, asks the
library itself for its kernel (openblas_get_corename), build
(openblas_get_config) and thread count. With
--sgemm N it also measures single-threaded SGEMM (torch.mm of two N x N float32
matrices: the BLAS call PyTorch's linear layers make), best of 1-second rounds.

Prints one JSON object:
  {"torch": "1.13.0a0", "blas": "openblas" | "reference" | "mkl" | "other" | "none",
   "sgemm_from": real path of the library providing sgemm_,
   "libraries": [real paths of mapped BLAS libraries], "core": "Zen", "config": "...",
   "threads": 1, "sgemm_gflops": 97.1, "sgemm_cpu_gflops": 97.5}
(sgemm_cpu_gflops divides by this process's CPU time instead of the wall time.)
Exits with status 3 and a message on stderr when torch is not importable.
"""
import argparse
import ctypes
import json
import os
import sys
import time

try:
    import torch
except ImportError as e:  # pragma: no cover - depends on the machine
    print(f"blas_info.py: PyTorch is not available ({e}); install python3-torch", file=sys.stderr)
    sys.exit(3)


def mapped_blas_libraries():
    paths = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            parts = line.split(None, 5)
            if len(parts) < 6:
                continue
            path = parts[5].strip()
            name = os.path.basename(path).lower()
            if any(k in name for k in ("blas", "mkl_rt", "mkl_core", "blis", "atlas")) and path not in paths:
                paths.append(path)
    return paths


class DlInfo(ctypes.Structure):
    _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p), ("dli_sname", ctypes.c_char_p),
                ("dli_saddr", ctypes.c_void_p)]


def sgemm_provider():
    """Real path of the library that defines the sgemm_ PyTorch's CPU library calls."""
    torch_lib = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    if not os.path.exists(torch_lib):
        return None
    try:
        # dlopen of a loaded library returns it; dlsym from its handle searches
        # it and its dependencies in load order, as its own references bind.
        address = ctypes.cast(ctypes.CDLL(torch_lib).sgemm_, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None
    libc = ctypes.CDLL(None)
    libc.dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(DlInfo)]
    info = DlInfo()
    if not libc.dladdr(address, ctypes.byref(info)) or not info.dli_fname:
        return None
    return os.path.realpath(info.dli_fname.decode())


def describe():
    torch.set_num_threads(1)
    a = torch.ones(64, 64)
    (a @ a).sum().item()  # load and initialise the BLAS
    libraries = [os.path.realpath(p) for p in mapped_blas_libraries()]
    provider = sgemm_provider()
    info = {"torch": torch.__version__, "sgemm_from": provider, "libraries": libraries, "blas": "none", "core": None,
            "config": None, "threads": None}
    if provider is None:
        info["blas"] = "unknown"
    elif "openblas" in provider.lower():
        info["blas"] = "openblas"
        # The OpenBLAS behind it: Debian's openblas-*/libblas.so.3 is a thin
        # interface over libopenblas.so.0 in the same folder.
        same_folder = [p for p in libraries if "openblas" in os.path.basename(p).lower()
                       and os.path.dirname(p) == os.path.dirname(provider)]
        lib = ctypes.CDLL(same_folder[0] if same_folder else provider)  # the mapped copy
        lib.openblas_get_corename.restype = ctypes.c_char_p
        lib.openblas_get_config.restype = ctypes.c_char_p
        info["core"] = lib.openblas_get_corename().decode()
        info["config"] = lib.openblas_get_config().decode()
        info["threads"] = lib.openblas_get_num_threads()
    elif "mkl" in provider.lower():
        info["blas"] = "mkl"
    elif "/blas/" in provider or os.path.basename(provider).startswith("libblas.so"):
        info["blas"] = "reference"  # Debian's netlib libblas3 (/usr/lib/<arch>/blas/libblas.so.3)
    else:
        info["blas"] = "other"
    return info


def sgemm_gflops(n, min_time):
    """Best of 3 rounds: (GFLOP/s over wall time, GFLOP/s over this process's CPU time)."""
    a = torch.rand(n, n)
    b = torch.rand(n, n)
    c = torch.mm(a, b)
    best, best_cpu = 0.0, 0.0
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        k = 0
        while True:
            torch.mm(a, b, out=c)
            k += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        cpu = time.process_time() - c0
        best = max(best, 2.0 * n ** 3 * k / elapsed / 1e9)
        best_cpu = max(best_cpu, 2.0 * n ** 3 * k / max(cpu, 1e-9) / 1e9)
    return best, best_cpu


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sgemm", type=int, default=0, help="measure single-threaded SGEMM of N x N (0: do not)")
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds per SGEMM round (3 rounds)")
    args = parser.parse_args()
    info = describe()
    if args.sgemm > 0:
        info["sgemm_n"] = args.sgemm
        info["sgemm_gflops"], info["sgemm_cpu_gflops"] = sgemm_gflops(args.sgemm, args.min_time)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
