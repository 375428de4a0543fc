"""Emergence experiments (issue 9): train the factorized model and track segmentation vs steps.

Trains with the project's own :class:`fdiff.training.trainer.Trainer` (its ``train_step`` is
Algorithm 1, unchanged) on synthetic shapes generated in memory, and every ``--eval-every`` steps
segments the test split with :func:`fdiff.diffusion.samplers.segment` (Sec. 3.4: noise to x_t, one
pass, the K masks), scoring foreground IoU under both region-assignment protocols of
:mod:`fdiff.metrics.segmentation`:

- ``per_image``: best subset of the K regions per image (IEM's flip generalised);
- ``fixed``: one subset chosen on ``--fit-n`` training images, applied to every test image.

Every evaluation scores the raw weights and the EMA weights, at every ``--eval-t``. Training
time (``train_s``) excludes evaluation time. One CSV row per (step, weights, t).

``layout_frac`` is the share of test pixels whose label equals the pixel-wise most common label
(over the test set): near 1 means the masks are a fixed spatial layout that ignores the image.

Example::

    python docs/experiments/run_emergence.py --tag base --minutes 5 --eval-every 100 \\
        --csv docs/experiments/results/emergence.csv
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fdiff.config import DiffusionConfig, ModelConfig, RunConfig, TrainConfig
from fdiff.data.loader import TensorImages, to_float
from fdiff.diffusion.samplers import segment
from fdiff.metrics.segmentation import SegProtocol, binary_metrics, fit_foreground_subset
from fdiff.training.state import StepBatchSampler
from fdiff.training.trainer import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from levels import generate  # noqa: E402

FIELDS = [
    "tag",
    "commit",
    "difficulty",
    "resolution",
    "num_train",
    "base_channels",
    "channel_mult",
    "num_res_blocks",
    "attention",
    "K",
    "decoding",
    "lr",
    "batch",
    "ema_rate",
    "ema_warmup",
    "seed",
    "threads",
    "params",
    "step",
    "train_s",
    "train_cpu_s",
    "loss",
    "weights",
    "t",
    "iou_per_image",
    "iou_fixed",
    "acc_per_image",
    "acc_fixed",
    "dice_per_image",
    "dice_fixed",
    "fixed_subset",
    "layout_frac",
]


def load_shapes(difficulty: str, resolution: int, num_train: int, num_test: int, seed: int):
    tr_img, tr_mask = generate(difficulty, resolution, "train", num_train, seed)
    te_img, te_mask = generate(difficulty, resolution, "test", num_test, seed)
    return to_float(tr_img), tr_mask, to_float(te_img), te_mask


@torch.no_grad()
def predict(model, diffusion, x: torch.Tensor, t: int, seed: int, bs: int = 250) -> np.ndarray:
    """Region ids [N, H, W]: argmax of the K masks from one pass at t (fixed noise seed)."""
    model.eval()
    device = next(model.parameters()).device
    g = torch.Generator(device).manual_seed(seed)
    out = []
    for s in range(0, len(x), bs):
        m = segment(model, diffusion, x[s : s + bs].to(device), t=t, generator=g)
        out.append(m.argmax(1).to(torch.uint8).cpu())
    return torch.cat(out).numpy()


def score(pred_test, gt_test, pred_fit, gt_fit, k: int, t) -> dict:
    pi = binary_metrics(
        pred_test,
        gt_test,
        k,
        SegProtocol(split="test", assignment="per_image", n=len(gt_test), num_regions=k, t=t),
    )
    fg = fit_foreground_subset(pred_fit, gt_fit, k)
    fx = binary_metrics(
        pred_test,
        gt_test,
        k,
        SegProtocol(
            split="test", assignment="fixed", n=len(gt_test), num_regions=k, t=t, fit_split="train"
        ),
        fg,
    )
    # share of pixels carrying the pixel-wise modal label
    onehot = np.stack([(pred_test == i) for i in range(k)])  # [K, N, H, W]
    modal = onehot.sum(1).argmax(0)  # [H, W]
    layout = float((pred_test == modal[None]).mean())
    return dict(
        iou_per_image=pi.iou,
        iou_fixed=fx.iou,
        acc_per_image=pi.acc,
        acc_fixed=fx.acc,
        dice_per_image=pi.dice,
        dice_fixed=fx.dice,
        fixed_subset="+".join(map(str, fg)),
        layout_frac=layout,
    )


def git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except Exception:
        return "unknown"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tag", required=True)
    p.add_argument("--csv", default="docs/experiments/results/emergence.csv")
    p.add_argument("--difficulty", default="medium")
    p.add_argument("--resolution", type=int, default=32)
    p.add_argument("--num-train", type=int, default=5000)
    p.add_argument("--num-test", type=int, default=500)
    p.add_argument("--fit-n", type=int, default=500, help="training images for the fixed subset")
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--base-channels", type=int, default=32)
    p.add_argument("--channel-mult", default="1,2,2")
    p.add_argument("--num-res-blocks", type=int, default=1)
    p.add_argument("--attention", default="8", help="attention resolutions, comma list or ''")
    p.add_argument("--K", type=int, default=3)
    p.add_argument("--decoding", default="shared")
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--lr-warmup", type=int, default=0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--ema-rate", type=float, default=0.999)
    p.add_argument("--no-ema-warmup", action="store_true")
    p.add_argument("--grad-clip", type=float, default=0.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=100000)
    p.add_argument("--minutes", type=float, default=5.0, help="training budget (see --budget)")
    p.add_argument(
        "--budget",
        choices=("wall", "cpu"),
        default="cpu",
        help="what --minutes counts: wall seconds or process CPU seconds of training",
    )
    p.add_argument("--eval-every", type=int, default=100)
    p.add_argument("--eval-t", default="30")
    p.add_argument(
        "--final-t", default="0,10,30,60,100,200,400", help="t values swept at the last evaluation"
    )
    p.add_argument("--eval-seed", type=int, default=1234)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--save", default="", help="write the final trainer state (model.pt) here")
    p.add_argument("--device", default="cpu", help="cpu or cuda (bf16 and channels_last there)")
    a = p.parse_args(argv)

    torch.set_num_threads(a.threads)
    mult = tuple(int(v) for v in a.channel_mult.split(","))
    attn = tuple(int(v) for v in a.attention.split(",") if v)
    mcfg = ModelConfig(
        arch="factorized",
        decoding=a.decoding,
        resolution=a.resolution,
        base_channels=a.base_channels,
        channel_mult=mult,
        num_res_blocks=a.num_res_blocks,
        attention_resolutions=attn,
        num_regions=a.K,
    )
    tcfg = TrainConfig(
        steps=a.steps,
        batch_size=a.batch,
        lr=a.lr,
        lr_warmup=a.lr_warmup,
        ema_rate=a.ema_rate,
        ema_warmup=not a.no_ema_warmup,
        grad_clip=a.grad_clip,
        seed=a.seed,
        device=a.device,
    )
    cfg = RunConfig(model=mcfg, diffusion=DiffusionConfig(), train=tcfg)

    t0 = time.time()
    xtr, mtr, xte, mte = load_shapes(
        a.difficulty, a.resolution, a.num_train, a.num_test, a.data_seed
    )
    fit_idx = np.arange(min(a.fit_n, len(xtr)))
    xfit, mfit = xtr[fit_idx], mtr[fit_idx]
    print(f"data {a.difficulty} {a.resolution}px: {time.time() - t0:.1f}s", flush=True)

    out_dir = Path(tempfile.mkdtemp(prefix=f"emerg_{a.tag}_"))
    trainer = Trainer.build(cfg, TensorImages(xtr), out_dir)
    params = sum(p.numel() for p in trainer.state.model.parameters())
    sampler = StepBatchSampler(len(xtr), a.batch, 0, a.steps, a.seed)
    ts = [int(v) for v in a.eval_t.split(",")]
    static = dict(
        tag=a.tag,
        commit=git_commit(),
        difficulty=a.difficulty,
        resolution=a.resolution,
        num_train=a.num_train,
        base_channels=a.base_channels,
        channel_mult=a.channel_mult,
        num_res_blocks=a.num_res_blocks,
        attention=a.attention,
        K=a.K,
        decoding=a.decoding,
        lr=a.lr,
        batch=a.batch,
        ema_rate=a.ema_rate,
        ema_warmup=not a.no_ema_warmup,
        seed=a.seed,
        threads=a.threads,
        params=params,
    )
    csv_path = Path(a.csv)
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    new = not csv_path.exists()
    fh = open(csv_path, "a", newline="")  # noqa: SIM115 (appended to across evaluations)
    w = csv.DictWriter(fh, FIELDS)
    if new:
        w.writeheader()
    print(f"{a.tag}: {params / 1e6:.2f}M params, config {json.dumps(cfg.to_dict()['train'])}")

    def evaluate(step, train_s, loss, tlist=ts):
        cpu_s = round(train_cpu[0], 1)
        for name, net in (("raw", trainer.state.model), ("ema", trainer.state.ema)):
            for t in tlist:
                pt = predict(net, trainer.state.diffusion, xte, t, a.eval_seed)
                pf = predict(net, trainer.state.diffusion, xfit, t, a.eval_seed + 1)
                r = score(pt, mte, pf, mfit, a.K, t)
                w.writerow(
                    {
                        **static,
                        "step": step,
                        "train_s": round(train_s, 1),
                        "train_cpu_s": cpu_s,
                        "loss": round(loss, 5),
                        "weights": name,
                        "t": t,
                        **r,
                    }
                )
                if True:
                    print(
                        f"  step {step:5d} {train_s:6.0f}s cpu {cpu_s:6.0f}s loss {loss:.4f} "
                        f"{name} t={t}: IoU "
                        f"pi {r['iou_per_image']:.3f} fixed {r['iou_fixed']:.3f} "
                        f"layout {r['layout_frac']:.2f}",
                        flush=True,
                    )
        fh.flush()
        trainer.state.model.train()

    train_s, losses, step, last_loss = 0.0, [], 0, float("nan")
    train_cpu = [0.0]  # process CPU seconds spent in training steps (load-independent-ish)
    evaluate(0, 0.0, float("nan"))
    trainer.state.model.train()
    budget = a.minutes * 60

    def spent():
        return train_cpu[0] if a.budget == "cpu" else train_s

    while step < a.steps and spent() < budget:
        s0, c0 = time.time(), time.process_time()
        idx = sampler.batch(step)
        # the loss stays on the device until an evaluation reads the mean
        x0 = xtr[idx].to(trainer.state.device, non_blocking=True)
        losses.append(trainer.train_step(x0, None))
        trainer.state.step = step = step + 1
        train_s += time.time() - s0
        train_cpu[0] += time.process_time() - c0
        if step % a.eval_every == 0:
            last_loss = torch.stack(losses).double().mean().item()
            evaluate(step, train_s, last_loss)
            losses = []
    final_t = sorted({int(v) for v in a.final_t.split(",") if v} | set(ts))
    if step % a.eval_every:
        mean = torch.stack(losses).double().mean().item() if losses else math.nan
        evaluate(step, train_s, mean, final_t)
    else:  # the last regular evaluation already wrote ts; add the rest of the sweep
        evaluate(step, train_s, last_loss, [t for t in final_t if t not in ts])
    fh.close()
    print(
        f"{a.tag}: {train_cpu[0]:.0f} CPU s; {step} steps in {train_s:.0f}s of training "
        f"({train_s / max(step, 1):.2f} "
        f"s/step), {time.time() - t0:.0f}s wall in all",
        flush=True,
    )
    if a.save:  # EMA weights to --save, raw weights next to it as *_raw.pt (model.pt format)
        from fdiff.training import checkpoint as ckpt

        Path(a.save).parent.mkdir(parents=True, exist_ok=True)
        trainer.write_model()
        os.replace(trainer.model_path, a.save)
        raw = ckpt.model_state(cfg.model, cfg.diffusion, trainer.state.model.state_dict(), step)
        ckpt.save(raw, str(Path(a.save).with_suffix("")) + "_raw.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
