#!/usr/bin/env python3
"""Writes regression_two_targets.csv beside this script (deterministic: seed 2026).

1000 rows: four features x1..x4 drawn uniformly from [-1, 1], then two targets,
y1 = x1 + x2 + x3 + x4 (linear) and y2 = sin(2 x1) cos(x2) (smooth, nonlinear).
Used by regression_csv.yaml (target_columns: "-2,-1").
"""
import math
import os
import random

rng = random.Random(2026)
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "regression_two_targets.csv")
with open(path, "w", newline="\n") as out:
    for _ in range(1000):
        x = [rng.uniform(-1.0, 1.0) for _ in range(4)]
        y1 = sum(x)
        y2 = math.sin(2 * x[0]) * math.cos(x[1])
        out.write(",".join(f"{v:.5f}" for v in x + [y1, y2]) + "\n")
