"""The reference: fdiff's standard U-Net against diffusers' UNet2DModel, one training step each.

diffusers is NOT a dependency of fdiff. Run this script from a separate, throw-away environment
that sees the installed fdiff (its code never enters the project)::

    python3 -m venv --system-site-packages /tmp/diffusers-venv
    /tmp/diffusers-venv/bin/pip install diffusers
    /tmp/diffusers-venv/bin/python benchmarks/reference_diffusers.py --preset paper64 \\
        --device cuda --batch-size 64 --out reference.csv

Both models get the same configuration (the paper's 64 px U-Net: block_out_channels 128, 256,
384, 512; 3 res blocks per level, 4 on the way up; attention at 16 and 8 px, i.e.
AttnDownBlock2D/AttnUpBlock2D at those levels and in the middle; scale-shift timestep
conditioning; dropout 0.1; GroupNorm 32) and the same step: x_t from Eq. 1, eps prediction, MSE,
backward, Adam; bf16 autocast and channels_last on CUDA. The steps of the two models alternate
(ABAB...) so that a change of machine load hits both; the medians are compared.

Only one head-count detail differs: diffusers sets heads = channels / attention_head_dim with
one head dimension for every level, so 128 gives 3 heads at 384 channels where fdiff has 4
(4 at 512 channels in both). The attention FLOPs do not depend on the number of heads.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import statistics
import sys
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from fdiff.bench.speed import model_config
from fdiff.bench.timing import device_name, git_commit, sync
from fdiff.config import DiffusionConfig
from fdiff.diffusion.gaussian import GaussianDiffusion
from fdiff.model.build import build_model
from fdiff.model.summary import count_flops


def diffusers_unet(cfg):
    """UNet2DModel with fdiff's configuration ``cfg`` (a standard-U-Net ModelConfig)."""
    from diffusers import UNet2DModel

    res, blocks = cfg.resolution, []
    for level, _ in enumerate(cfg.channel_mult):
        blocks.append(res // 2**level in cfg.attention_resolutions)
    down = tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in blocks)
    up = tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(blocks))
    return UNet2DModel(
        sample_size=res,
        in_channels=cfg.in_channels,
        out_channels=cfg.in_channels,
        layers_per_block=cfg.num_res_blocks,
        block_out_channels=tuple(m * cfg.base_channels for m in cfg.channel_mult),
        down_block_types=down,
        up_block_types=up,
        attention_head_dim=max(m * cfg.base_channels for m in cfg.channel_mult) // cfg.num_heads,
        resnet_time_scale_shift="scale_shift" if cfg.use_scale_shift_norm else "default",
        dropout=cfg.dropout,
        norm_num_groups=32,
    )


def flops_per_image(model, res, eps_fn) -> tuple[float, float]:
    """(forward, forward + backward) FLOPs of one image, counted by FlopCounterMode."""
    dev = next(model.parameters()).device
    x = torch.zeros(1, 3, res, res, device=dev)
    t = torch.zeros(1, dtype=torch.long, device=dev)
    c = FlopCounterMode(display=False)
    with c:
        out = eps_fn(model, x, t)
        fwd = c.get_total_flops()
        out.float().pow(2).mean().backward()
    model.zero_grad(set_to_none=True)
    return float(fwd), float(c.get_total_flops())


def make_step(model, eps_fn, diffusion, batch, res, device):
    cuda = device.type == "cuda"
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(batch, 3, res, res, generator=g).clamp(-1, 1).to(device)
    if cuda:
        x0 = x0.contiguous(memory_format=torch.channels_last)

    def step():
        t = torch.randint(0, diffusion.num_timesteps, (batch,), device=device)
        noise = torch.randn_like(x0)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda):
            x_t = diffusion.q_sample(x0, t, noise)
            loss = torch.nn.functional.mse_loss(eps_fn(model, x_t, t).float(), noise.float())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def timed(step, device) -> float:
    sync(device)
    if device.type == "cuda":
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        step()
        b.record()
        b.synchronize()
        return a.elapsed_time(b) / 1e3
    t0 = time.perf_counter()
    step()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default="paper64")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch-size", type=int, default=2)
    p.add_argument("--warmup", type=int, default=1, help="untimed steps of each model")
    p.add_argument("--rounds", type=int, default=3, help="timed steps of each model, alternating")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--out", help="CSV")
    a = p.parse_args(argv)
    try:
        import diffusers
    except ImportError:
        print("diffusers is not installed here: see this script's docstring", file=sys.stderr)
        return 2
    if a.threads:
        torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    cfg = model_config(a.preset, "ddpm")
    diffusion = GaussianDiffusion(DiffusionConfig()).to(device)
    torch.manual_seed(0)
    models = {
        "fdiff": (build_model(cfg).to(device), lambda m, x, t: m(x, t).eps),
        "diffusers": (diffusers_unet(cfg).to(device), lambda m, x, t: m(x, t).sample),
    }
    info = {}
    for name, (m, fn) in models.items():
        params = sum(p.numel() for p in m.parameters())
        if name == "fdiff":
            fwd, train = count_flops(cfg, "forward"), count_flops(cfg, "train")
        else:
            fwd, train = flops_per_image(m, cfg.resolution, fn)
        info[name] = {"params": params, "gflop_fwd": fwd / 1e9, "gflop_train": train / 1e9}
    steps = {
        n: make_step(m, fn, diffusion, a.batch_size, cfg.resolution, device)
        for n, (m, fn) in models.items()
    }
    load0 = os.getloadavg()
    for _ in range(a.warmup):
        for s in steps.values():
            s()
    times = {n: [] for n in steps}
    for _ in range(a.rounds):
        for n, s in steps.items():
            times[n].append(timed(s, device))
    load1 = os.getloadavg()

    med = {n: statistics.median(v) for n, v in times.items()}
    print(
        f"date={datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC "
        f"commit={git_commit()} device={device_name(device)} torch={torch.__version__} "
        f"diffusers={diffusers.__version__} threads={torch.get_num_threads()} "
        f"preset={a.preset} batch={a.batch_size} rounds={a.rounds} "
        f"load_start={' '.join(f'{v:.2f}' for v in load0)} "
        f"load_end={' '.join(f'{v:.2f}' for v in load1)}"
    )
    rows = []
    print(f"{'model':>10} {'params M':>9} {'GFLOP fwd':>10} {'GFLOP train':>12} "
          f"{'s/step':>8} {'img/s':>8}  all steps (s)")  # fmt: skip
    for n in steps:
        i = info[n]
        ips = a.batch_size / med[n]
        rows.append({"model": n, **i, "s_per_step": med[n], "images_per_s": ips,
                     "steps_s": " ".join(f"{v:.3f}" for v in times[n])})  # fmt: skip
        print(
            f"{n:>10} {i['params'] / 1e6:9.2f} {i['gflop_fwd']:10.2f} {i['gflop_train']:12.2f} "
            f"{med[n]:8.3f} {ips:8.2f}  {' '.join(f'{v:.2f}' for v in times[n])}"
        )
    ratio = med["fdiff"] / med["diffusers"]
    print(f"fdiff / diffusers step time: {ratio:.3f} (target <= 1: fdiff not slower)")
    if a.out:
        with open(a.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
