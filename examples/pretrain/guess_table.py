#!/usr/bin/python3
"""The random-guessing table: trials to solve, per folder of run summaries.

    examples/pretrain/guess_table.py DIR [DIR ...]

Each DIR holds the --json summaries of one spec over seeds
(examples/pretrain/run_guessing.sh). Per DIR: the runs, how many solved their
training set, the trial count of the solved runs (mean ± sample sd, median,
min-max), the best training success rate of the unsolved ones, the test
success rate after the search (mean), and the mean seconds of a search.
"""
import glob
import json
import os
import statistics
import sys


def last(summary, metric):
    values = summary.get("pretraining", {}).get(metric, [])
    return values[-1] if values else None


print("| problem | runs | solved | trials (mean ± sd) | median | min–max | best train success (unsolved) "
      "| test success (mean) | s per search |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for folder in sys.argv[1:]:
    runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(folder, "*.json")))]
    runs = [r for r in runs if r.get("status") == "ok"]
    solved = [last(r, "trials") for r in runs if last(r, "solved") == 1]
    unsolved = [last(r, "best_success_rate") for r in runs if last(r, "solved") == 0]
    tests = [r["final"]["success_rate"] for r in runs if r.get("final", {}).get("success_rate") is not None]
    secs = [r["timing"]["pretraining"] for r in runs if "timing" in r]
    name = os.path.basename(os.path.normpath(folder))
    if solved:
        sd = statistics.stdev(solved) if len(solved) > 1 else 0.0
        trials = f"{statistics.mean(solved):,.0f} ± {sd:,.0f}"
        median = f"{statistics.median(solved):,.0f}"
        span = f"{min(solved):,.0f}–{max(solved):,.0f}"
    else:
        trials = median = span = "–"
    best = f"{max(unsolved):.2f}" if unsolved else "–"
    test = f"{statistics.mean(tests):.2f}" if tests else "–"
    sec = f"{statistics.mean(secs):.1f}" if secs else "–"
    print(f"| {name} | {len(runs)} | {len(solved)} | {trials} | {median} | {span} | {best} | {test} | {sec} |")
