"""CPU cost of one training step (Algorithm 1: forward, Eq. 8 loss, backward, Adam) for
decoder forms and model sizes at 16 px, batch 16, one thread (issue 16).

Steps of the variants are interleaved (A, B, B, A, ...), so that on a loaded machine every
variant sees the same load and the ratios stay meaningful even where the absolute ms do not.
Process CPU time per step.

    OMP_NUM_THREADS=1 python docs/experiments/cpu_step_ab.py --set decoders --steps 40
    OMP_NUM_THREADS=1 python docs/experiments/cpu_step_ab.py --set sizes --steps 25
"""

from __future__ import annotations

import argparse
import csv
import time

import torch

from fdiff.config import DiffusionConfig, ModelConfig, RunConfig, TrainConfig
from fdiff.training.state import TrainState, build_train_state

# name -> (arch, decoding, looped, base_channels, attention resolutions)
SETS = {
    "decoders": {
        "shared batched": ("factorized", "shared", False, 32, (8,)),
        "shared looped": ("factorized", "shared", True, 32, (8,)),
        "mask_hmid batched": ("factorized", "mask_hmid", False, 32, (8,)),
        "mask_hmid looped": ("factorized", "mask_hmid", True, 32, (8,)),
    },
    "sizes": {
        "C32 attn8": ("factorized", "shared", False, 32, (8,)),
        "C32 noattn": ("factorized", "shared", False, 32, ()),
        "C24 attn8": ("factorized", "shared", False, 24, (8,)),
        "C16 attn8": ("factorized", "shared", False, 16, (8,)),
    },
    # the demo's five training jobs at C = 32 (the former demo) and C = 16
    "archs": {
        f"{arch if arch == 'ddpm' else dec} C{c}": (arch, dec, False, c, (8,))
        for c in (32, 16)
        for arch, dec in (
            ("factorized", "shared"),
            ("factorized", "unshared"),
            ("factorized", "mask_hmid"),
            ("factorized", "concat"),
            ("ddpm", "shared"),
        )
    },
}


def trainer(arch: str, decoding: str, looped: bool, c: int, attn: tuple[int, ...]) -> TrainState:
    """A demo-shaped train state (K = 3, channels [C, 2C]); looped forces the K loop."""
    m = ModelConfig(
        arch=arch,
        decoding=decoding,
        resolution=16,
        base_channels=c,
        channel_mult=(1, 2),
        num_res_blocks=1,
        attention_resolutions=attn,
        num_regions=3,
        num_heads=4,
    )
    tc = TrainConfig(steps=1000, batch_size=16, lr=5e-4, device="cpu")
    tr = build_train_state(RunConfig(model=m, diffusion=DiffusionConfig(), train=tc))
    if looped:
        fwd = tr.model.forward
        tr.model.forward = lambda *a, **k: fwd(*a, looped=True, **k)
    return tr


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--set", choices=sorted(SETS), default="decoders")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--csv", default="")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    x = torch.rand(256, 3, 16, 16) * 2 - 1  # [N x 3 x 16 x 16]
    trs = {name: trainer(*spec) for name, spec in SETS[a.set].items()}
    spent = dict.fromkeys(trs, 0.0)
    for tr in trs.values():
        for _ in range(2):  # warm-up
            tr.train_step(x[:16], None)
    for i in range(a.steps):
        for name in list(trs) if i % 2 else list(trs)[::-1]:
            b = x[(i * 16) % 240 : (i * 16) % 240 + 16]
            c0 = time.process_time()
            trs[name].train_step(b, None)
            spent[name] += time.process_time() - c0
    first = next(iter(spent.values()))
    rows = []
    for name, s in spent.items():
        params = sum(q.numel() for q in trs[name].model.parameters())
        rows.append(
            dict(variant=name, params=params, cpu_ms_per_step=round(1000 * s / a.steps, 1),
                 ratio=round(s / first, 3), steps=a.steps)
        )  # fmt: skip
        print(
            f"{name}: {params / 1e6:.2f}M params, "
            f"{1000 * s / a.steps:.0f} CPU ms/step, x{s / first:.2f}"
        )
    if a.csv:
        with open(a.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
