"""Plot IoU against training CPU time for runs in the emergence CSV, with the baselines.

python docs/experiments/plot_emergence.py --tags TAG1 TAG2 ... --out docs/experiments/x.png
"""

from __future__ import annotations

import argparse
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--csv", default="docs/experiments/results/emergence.csv")
    p.add_argument("--baselines", default="docs/experiments/results/baselines.csv")
    p.add_argument("--tags", nargs="*", default=None)
    p.add_argument("--t", type=int, default=30)
    p.add_argument("--weights", default="raw")
    p.add_argument("--x", default="train_cpu_s", choices=("train_cpu_s", "step", "train_s"))
    p.add_argument("--title", default="")
    p.add_argument("--out", required=True)
    a = p.parse_args(argv)
    df = pd.read_csv(a.csv)
    base = pd.read_csv(a.baselines)
    tags = a.tags or list(dict.fromkeys(df["tag"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for ax, proto in zip(axes, ("per_image", "fixed"), strict=True):
        for tag in tags:
            d = df[(df.tag == tag) & (df.t == a.t) & (df.weights == a.weights)].sort_values("step")
            if len(d):
                ax.plot(d[a.x], d[f"iou_{proto}"], marker="o", ms=3, label=tag)
        first = df[df.tag == tags[0]].iloc[0]
        b = base[(base.difficulty == first.difficulty) & (base.resolution == first.resolution)]
        styles = {"centred_disc": ":", "all_foreground": "--", "kmeans_rgb_3": "-."}
        for _, r in b.iterrows():
            key = next((k for k in styles if r.method.startswith(k)), None)
            if key:
                ax.axhline(
                    r[f"iou_{proto}"],
                    color="k",
                    ls=styles[key],
                    lw=1,
                    label=f"{r.method} ({first.difficulty} {first.resolution}px)",
                )
        ax.set_title(f"IoU, {proto} assignment (t={a.t}, {a.weights} weights)")
        ax.set_xlabel(
            {
                "train_cpu_s": "training CPU seconds (1 thread)",
                "step": "step",
                "train_s": "training wall seconds (shared machine)",
            }[a.x]
        )
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("foreground IoU (test, 500 images)")
    axes[1].legend(fontsize=7, loc="upper left")
    if a.title:
        fig.suptitle(a.title)
    fig.tight_layout()
    fig.savefig(a.out, dpi=110)
    print(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
