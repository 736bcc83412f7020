#!/usr/bin/python3
"""The README's chunker_lag table from the summaries chunker_seeds.sh wrote.

    examples/pretrain/chunker_table.py OUT_DIR

A run counts training sequences as the pretraining's (the last value of the
summary's pretraining.sequences, 0 without pretraining) plus the training
split's size per fine-tuning epoch, and reaches success at the first evaluated
epoch whose test success_rate is 1.0 (every test sequence on the right side of
0.5); a run that never does is "not solved" and left out of the statistics.
"""
import glob
import json
import os
import statistics
import sys
from collections import defaultdict

out = sys.argv[1]
rows = defaultdict(list)
for path in sorted(glob.glob(os.path.join(out, "*.json"))):
    name, seed = os.path.basename(path)[:-len(".json")].rsplit(".", 1)
    with open(path) as f:
        s = json.load(f)
    per_epoch = None
    for p in s["plugins"]:
        if p["kind"] == "dataset":
            per_epoch = int(p["params"]["train"])
    pre = s.get("pretraining", {}).get("sequences", [0])[-1] if s.get("pretraining") else 0
    hit = [e["epoch"] for e in s["epochs"] if e.get("success_rate") == 1.0]
    budget = pre + per_epoch * s["final"]["epochs_run"]
    rows[name].append((int(seed), pre + per_epoch * hit[0] if hit else None, budget, s["final"].get("success_rate"),
                       s["final"]["seconds"]))

print("| spec | seeds solved | training sequences to success: mean | median | sd | min–max | budget | still solved at the end | final success (mean) | s/run |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for name, runs in sorted(rows.items()):
    solved = [r[1] for r in runs if r[1] is not None]
    fmt = lambda v: f"{v:,.0f}"
    mean = fmt(statistics.mean(solved)) if solved else "-"
    median = fmt(statistics.median(solved)) if solved else "-"
    sd = fmt(statistics.stdev(solved)) if len(solved) > 1 else "-"
    span = f"{fmt(min(solved))}–{fmt(max(solved))}" if solved else "-"
    final = statistics.mean(r[3] for r in runs if r[3] is not None)
    at_end = sum(1 for r in runs if r[3] == 1.0)
    print(f"| {name} | {len(solved)}/{len(runs)} | {mean} | {median} | {sd} | {span} | {fmt(max(r[2] for r in runs))} "
          f"| {at_end}/{len(runs)} | {final:.3f} | {statistics.mean(r[4] for r in runs):.1f} |")
for name, runs in sorted(rows.items()):
    print(f"{name}: " + ", ".join(f"seed {r[0]}: {fmt(r[1]) if r[1] is not None else 'not solved'}" for r in sorted(runs)))
