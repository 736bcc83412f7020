#!/usr/bin/python3
"""The random-guessing table: trials to solve, per folder of run summaries.

    examples/pretrain/guess_table.py DIR [DIR ...]
    examples/pretrain/guess_table.py EXPORT.csv

Each DIR holds the --json summaries of one spec over seeds
(examples/pretrain/run_guessing.sh); or one CSV of a study's pretraining
series (gradlab export STUDY --format csv --table pretraining -o EXPORT.csv),
one row per variant (no test success or seconds there). Per DIR: the runs, how many solved their
training set, the trial count of the solved runs (mean ± sample sd, median,
min-max), the best training success rate of the unsolved ones, the test
success rate after the search (mean), and the mean seconds of a search.
"""
import csv
import glob
import json
import os
import statistics
import sys


def last(summary, metric):
    values = summary.get("pretraining", {}).get(metric, [])
    return values[-1] if values else None


print("| problem | runs | solved | trials (mean ± sd) | median | min–max | best train success, unsolved: mean (max) "
      "| test success (mean) | s per search |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")

def groups():
    """(name, runs): each run a summary-like dict with status and the pretraining series."""
    for arg in sys.argv[1:]:
        if arg.endswith(".csv"):
            variants = {}
            for row in csv.DictReader(open(arg)):
                run = variants.setdefault(row["variant"], {}).setdefault(row["key"], {"status": row["status"]})
                run.setdefault("pretraining", {}).setdefault(row["metric"], []).append(float(row["value"]))
            for variant, runs in variants.items():
                yield variant, list(runs.values())
        else:
            yield (os.path.basename(os.path.normpath(arg)),
                   [json.load(open(p)) for p in sorted(glob.glob(os.path.join(arg, "*.json")))])


for name, runs in groups():
    runs = [r for r in runs if r.get("status") == "ok"]
    solved = [last(r, "trials") for r in runs if last(r, "solved") == 1]
    unsolved = [last(r, "best_success_rate") for r in runs if last(r, "solved") == 0]
    tests = [r["final"]["success_rate"] for r in runs if r.get("final", {}).get("success_rate") is not None]
    secs = [r["timing"]["pretraining"] for r in runs if "timing" in r]
    if solved:
        sd = statistics.stdev(solved) if len(solved) > 1 else 0.0
        trials = f"{statistics.mean(solved):,.0f} ± {sd:,.0f}"
        median = f"{statistics.median(solved):,.0f}"
        span = f"{min(solved):,.0f}–{max(solved):,.0f}"
    else:
        trials = median = span = "–"
    best = f"{statistics.mean(unsolved):.2f} (max {max(unsolved):.2f})" if unsolved else "–"
    test = f"{statistics.mean(tests):.2f}" if tests else "–"
    sec = f"{statistics.mean(secs):.1f}" if secs else "–"
    print(f"| {name} | {len(runs)} | {len(solved)} | {trials} | {median} | {span} | {best} | {test} | {sec} |")
