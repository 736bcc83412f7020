#!/usr/bin/python3
"""The README's table of a lag study: success rate against the grid cell.

    examples/recurrent/lag_table.py STUDY_DIR [TRAIN_SEQUENCES_PER_EPOCH]

Reads STUDY_DIR/results.sqlite (Python's own sqlite3; read-only). Per variant
and grid cell, over the ok runs: the final test success_rate (mean and sample
sd over the seeds), how many seeds reached 0.95, the training sequences seen at
the first evaluated epoch that reached 0.95 (median over the seeds that did;
its resolution is the study's eval_every), and the mean seconds of a run.
"""
import json
import sqlite3
import statistics
import sys
from collections import defaultdict

db = sqlite3.connect(f"file:{sys.argv[1]}/results.sqlite?mode=ro", uri=True)
per_epoch = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
cells = defaultdict(list)
for run_id, variant, grid, seconds in db.execute(
        "SELECT id, variant, grid, seconds FROM runs WHERE status = 'ok' ORDER BY id"):
    epochs = dict(db.execute("SELECT epoch, success_rate FROM epochs WHERE run_id = ? ORDER BY epoch", (run_id,)))
    cells[(variant, grid)].append((epochs, seconds))


def order(item):
    (variant, grid), _ = item
    return variant, [v for _, v in sorted(json.loads(grid).items())]


print("| variant | cell | success rate (mean ± sd) | seeds ≥ 0.95 | sequences to 0.95 (median) | seconds per run |")
print("|---|---|---:|---:|---:|---:|")
for (variant, grid), group in sorted(cells.items(), key=order):
    finals, reached = [], []
    for epochs, _ in group:
        finals.append(epochs[max(epochs)])
        hit = [e for e in sorted(epochs) if (epochs[e] or 0) >= 0.95]
        if hit:
            reached.append(hit[0] * per_epoch)
    sd = statistics.stdev(finals) if len(finals) > 1 else float("nan")
    cell = " ".join(f"{k}={v}" for k, v in json.loads(grid).items()) or "-"
    median = f"{int(statistics.median(reached)):,}" if reached else "-"
    seconds = statistics.mean(s for _, s in group)
    print(f"| {variant} | {cell} | {statistics.mean(finals):.3f} ± {sd:.3f} | {len(reached)}/{len(group)} "
          f"| {median} | {seconds:.0f} |")
