"""Interpolation between two real images in the noised latent (Fig. 12; Ho et al., Sec. 4.3).

Both images x0_A, x0_B are noised to step t with Eq. 1 and the *same* noise eps:
x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps. The latents are interpolated, linearly or
spherically (slerp), at lambda = 0, 1/(S+1), ..., 1 (S = ``steps_between``, so the ends are
the two reconstructions), and every interpolant is decoded by the DDPM reverse process (Eq. 9-10)
from t down to 1, with one noise draw per step shared by all interpolants so that neighbouring
frames differ only through lambda. The factorized model's masks at the last step (Algorithm 2)
are the interpolants' segmentations.

With shared noise, linear interpolation of x_t equals noising the linear interpolation of x0 with
that noise, so ``linear`` is the default; ``slerp`` keeps the latents' norm instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fdiff.errors import FdiffError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InterpolationRequest:
    """One ``fdiff interpolate`` call."""

    model: Path
    data: Path
    split: str = "test"
    index_a: int = 0
    index_b: int = 1
    t: int = 250
    steps_between: int = 8
    mode: str = "linear"  # linear | slerp
    seed: int = 0
    label: int | None = None  # class of a class-conditional model (default: image A's label)
    device: str = "cpu"


@dataclass
class Interpolation:
    """lambdas [S]; images [S x 3 x H x W] in [-1, 1]; masks [S x K x H x W] (None: DDPM)."""

    lambdas: torch.Tensor
    images: torch.Tensor
    masks: torch.Tensor | None


def lerp(a: torch.Tensor, b: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """(1 - lam) a + lam b for a, b [1 x ...] and lam [S] -> [S x ...]."""
    lam = lam.reshape(-1, *([1] * (a.ndim - 1))).to(a.dtype)
    return (1 - lam) * a + lam * b


def slerp(a: torch.Tensor, b: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation of the flattened a, b [1 x ...]; falls back to lerp when they are
    (nearly) parallel."""
    fa, fb = a.flatten().double(), b.flatten().double()
    cos = torch.dot(fa, fb) / (fa.norm() * fb.norm())
    omega = torch.arccos(cos.clamp(-1, 1))
    if omega.abs() < 1e-4:
        return lerp(a, b, lam)
    lam = lam.double().reshape(-1, *([1] * (a.ndim - 1)))
    s = torch.sin(omega)
    out = torch.sin((1 - lam) * omega) / s * a.double() + torch.sin(lam * omega) / s * b.double()
    return out.to(a.dtype)


@torch.no_grad()
def interpolate(
    model: torch.nn.Module,
    diffusion,
    x0_a: torch.Tensor,
    x0_b: torch.Tensor,
    t: int,
    steps_between: int,
    mode: str = "linear",
    y: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Interpolation:
    """Interpolate x0_a, x0_b [1 x 3 x H x W] in [-1, 1] at paper step ``t`` (1..T)."""
    if not 1 <= t <= diffusion.num_timesteps:
        raise FdiffError(f"{t}: expected 1..{diffusion.num_timesteps} (the model's T)", arg="t")
    if steps_between < 0:
        raise FdiffError(f"{steps_between}: expected >= 0", arg="steps_between")
    if mode not in ("linear", "slerp"):
        raise FdiffError(f"{mode!r}: expected linear or slerp", arg="mode")
    device = x0_a.device
    s = steps_between + 2
    lambdas = torch.linspace(0, 1, s, device=device)
    idx = torch.full((1,), t - 1, device=device, dtype=torch.long)
    eps = torch.randn(x0_a.shape, device=device, generator=generator, dtype=x0_a.dtype)
    xa, xb = diffusion.q_sample(x0_a, idx, eps), diffusion.q_sample(x0_b, idx, eps)  # Eq. 1
    x = (lerp if mode == "linear" else slerp)(xa, xb, lambdas)
    y_s = None if y is None else y.reshape(1).expand(s).to(device)
    masks = None
    for i in range(t - 1, -1, -1):
        ti = torch.full((s,), i, device=device, dtype=torch.long)
        out = model(x, ti, y_s)
        if i > 0:  # Eq. 10, one draw shared by all interpolants
            z = torch.randn((1, *x.shape[1:]), device=device, generator=generator, dtype=x.dtype)
        else:
            z = torch.zeros_like(x[:1])
        x = diffusion.ddpm_step(x, ti, out.eps.float(), z)  # Eq. 9
        masks = out.masks
    return Interpolation(
        lambdas.cpu(), x.clamp(-1, 1).cpu(), None if masks is None else masks.cpu()
    )


def interpolate_to_h5(req: InterpolationRequest, out: str | Path) -> Interpolation:
    """Run :func:`interpolate` on two images of a dataset split and write the HDF5 file:
    ``images`` uint8 [S x H x W x 3], ``masks`` uint8 [S x H x W] (factorized models),
    ``soft_masks`` float16 [S x K x H x W], ``lambdas`` float32 [S], ``sources`` uint8
    [2 x H x W x 3] (the two real images); attributes ``checkpoint, data, split, index_a,
    index_b, t, mode, seed, num_regions``."""
    from fdiff.data.loader import H5ImageDataset
    from fdiff.inference.predictions import region_map, soft_masks, write_arrays
    from fdiff.inference.visual import to_uint8
    from fdiff.training.checkpoint import load_model

    model, diffusion = load_model(req.model, req.device)
    data = H5ImageDataset(req.data, req.split)
    for i in (req.index_a, req.index_b):
        if not 0 <= i < len(data):
            raise FdiffError(f"{req.data}: /{req.split} index {i}: expected 0..{len(data) - 1}")
    x0, labels = data.get_batch([req.index_a, req.index_b])
    x0 = x0.to(req.device)
    y = None
    if model.cfg.num_classes:
        if req.label is not None:
            y = torch.tensor(req.label)
        elif labels[0] >= 0:
            y = labels[0]
        else:
            raise FdiffError(
                f"{req.data}: /{req.split}/labels missing: a class-conditional model needs "
                "--label CLASS"
            )
    g = torch.Generator(req.device).manual_seed(req.seed)
    res = interpolate(
        model, diffusion, x0[:1], x0[1:], req.t, req.steps_between, req.mode, y=y, generator=g
    )
    arrays = {
        "images": to_uint8(res.images),
        "lambdas": res.lambdas.numpy().astype(np.float32),
        "sources": to_uint8(x0.cpu()),
    }
    k = 0
    if res.masks is not None:
        k = res.masks.shape[1]
        arrays["masks"] = region_map(res.masks)
        arrays["soft_masks"] = soft_masks(res.masks)
    attrs = {
        "checkpoint": str(req.model),
        "data": str(req.data),
        "split": req.split,
        "index_a": req.index_a,
        "index_b": req.index_b,
        "t": req.t,
        "mode": req.mode,
        "seed": req.seed,
        "num_regions": k,
    }
    write_arrays(out, arrays, attrs)
    log.info("interpolation of %s[%d] and [%d] at t=%d, %d frames -> %s", req.split,
             req.index_a, req.index_b, req.t, len(res.lambdas), out)  # fmt: skip
    return res
