"""Markdown table of the emergence runs: the last evaluation of every tag (t = 30) and the
first step from which the raw weights stay above the centred disc under both protocols."""

from __future__ import annotations

import sys

import pandas as pd

df = pd.read_csv(sys.argv[1] if len(sys.argv) > 1 else "docs/experiments/results/emergence.csv")
base = pd.read_csv("docs/experiments/results/baselines.csv")
print(
    "| run | level | px | K | batch | lr | seed | steps | train CPU s | IoU per-image raw / EMA "
    "| IoU fixed raw / EMA | layout | above disc from step (CPU s) |"
)
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for tag in dict.fromkeys(df.tag):
    d = df[(df.tag == tag) & (df.t == 30)]
    last = d[d.step == d.step.max()]
    r, e = last[last.weights == "raw"].iloc[0], last[last.weights == "ema"].iloc[0]
    b = base[(base.difficulty == r.difficulty) & (base.resolution == r.resolution)]
    disc = b[b.method.str.startswith("centred_disc")].iloc[0]
    raw = d[d.weights == "raw"].sort_values("step")
    ok = ((raw.iou_per_image > disc.iou_per_image) & (raw.iou_fixed > disc.iou_fixed)).to_numpy()
    # first evaluation from which every later one stays above the disc
    stay = [i for i in range(len(ok)) if ok[i:].all()]
    first = (
        f"{int(raw.step.iloc[stay[0]])} ({raw.train_cpu_s.iloc[stay[0]]:.0f} s)"
        if stay
        else "never"
    )
    print(
        f"| {tag} | {r.difficulty} | {r.resolution} | {r.K} | {r.batch} | {r.lr:g} | {r.seed} "
        f"| {int(r.step)} | {r.train_cpu_s:.0f} | {r.iou_per_image:.3f} / {e.iou_per_image:.3f} "
        f"| {r.iou_fixed:.3f} / {e.iou_fixed:.3f} | {r.layout_frac:.2f} | {first} |"
    )
