"""Samplers: DDPM ancestral sampling (Algorithm 2), DDIM, and real-image segmentation (Sec. 3.4).

Each sampler returns the images and the masks the model predicted at its last step: Algorithm 2
collects m-hat_0 with Eq. 4 when t = 1. On request it also records the trajectory (x_t and the
masks at chosen steps) for the refinement figure (Fig. 10).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from fdiff.diffusion import GaussianDiffusion, extract


@dataclass
class SampleResult:
    """images [N x 3 x H x W] in [-1, 1]; masks [N x K x H x W] (None for the standard U-Net);
    trajectory: (paper t, x_t [N x 3 x H x W], masks or None) at the recorded steps."""

    images: torch.Tensor
    masks: torch.Tensor | None
    trajectory: list[tuple[int, torch.Tensor, torch.Tensor | None]] = field(default_factory=list)


def _randn(shape, like_device, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(shape, device=like_device, generator=generator)


@torch.no_grad()
def ddpm_sample(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    shape: tuple[int, int, int, int],
    y: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    record: set[int] | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
) -> SampleResult:
    """Algorithm 2: x_T ~ N(0, I); for t = T..1: x_{t-1} by Eq. 9 with z from Eq. 10.

    :param shape: (N, 3, H, W). :param record: paper timesteps t whose x_t and masks to keep.
    """
    device = device or next(model.parameters()).device
    x = _randn(shape, device, generator)
    masks, traj = None, []
    steps = range(diffusion.num_timesteps - 1, -1, -1)
    for i in tqdm(steps, desc="ddpm", disable=not progress, leave=False):
        t = torch.full((shape[0],), i, device=device, dtype=torch.long)
        out = model(x, t, y)
        mean = diffusion.p_mean(x, t, out.eps.float())
        # Eq. 10: z ~ N(0, I) if t > 1 else z = 0
        z = _randn(shape, device, generator) if i > 0 else torch.zeros_like(x)
        x = mean + diffusion.p_sigma(t, x) * z
        masks = out.masks  # at t = 1 these are m-hat_0 (Algorithm 2)
        if record and (i + 1) in record:
            traj.append((i + 1, x.cpu(), None if masks is None else masks.cpu()))
    return SampleResult(x.clamp(-1, 1), masks, traj)


def ddim_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """``steps`` indices evenly spaced over [0, T-1], descending, always ending at 0."""
    if not 1 <= steps <= num_timesteps:
        raise ValueError(f"ddim steps {steps}: expected 1..{num_timesteps}")
    seq = torch.linspace(0, num_timesteps - 1, steps).round().long().unique().tolist()
    return sorted(seq, reverse=True)


@torch.no_grad()
def ddim_sample(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    shape: tuple[int, int, int, int],
    steps: int = 100,
    eta: float = 0.0,
    y: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    record: set[int] | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
) -> SampleResult:
    """DDIM (Song et al., Eq. 12) on a subsequence of ``steps`` timesteps; eta = 0 is deterministic.

    x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps + sigma z.
    """
    device = device or next(model.parameters()).device
    x = _randn(shape, device, generator)
    seq = ddim_timesteps(diffusion.num_timesteps, steps)
    masks, traj = None, []
    for j, i in enumerate(tqdm(seq, desc=f"ddim{steps}", disable=not progress, leave=False)):
        t = torch.full((shape[0],), i, device=device, dtype=torch.long)
        out = model(x, t, y)
        eps = out.eps.float()
        x0 = diffusion.predict_x0(x, t, eps).clamp(-1, 1)
        # re-derive eps from the clipped x0 so the update stays consistent
        eps = (x - extract(diffusion.sqrt_alphas_cumprod, t, x) * x0) / extract(
            diffusion.sqrt_one_minus_alphas_cumprod, t, x
        )
        abar = extract(diffusion.alphas_cumprod, t, x)
        if j + 1 < len(seq):
            t_prev = torch.full_like(t, seq[j + 1])
            abar_prev = extract(diffusion.alphas_cumprod, t_prev, x)
        else:
            abar_prev = torch.ones_like(abar)
        sigma = eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)).sqrt()
        x = abar_prev.sqrt() * x0 + (1 - abar_prev - sigma**2).clamp(min=0).sqrt() * eps
        if eta > 0 and j + 1 < len(seq):
            x = x + sigma * _randn(shape, device, generator)
        masks = out.masks
        if record and (i + 1) in record:
            traj.append((i + 1, x.cpu(), None if masks is None else masks.cpu()))
    return SampleResult(x.clamp(-1, 1), masks, traj)


@torch.no_grad()
def segment(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    x0: torch.Tensor,
    t: int = 30,
    y: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Sec. 3.4: noise clean images x0 [N x 3 x H x W] to x_t by Eq. 1, one pass, the K masks.

    ``t`` is the paper's timestep (default 30); t = 0 passes the clean image at the first index.
    Uses the masks-only path (no decoder). Returns [N x K x H x W].
    """
    if not 0 <= t <= diffusion.num_timesteps:
        raise ValueError(f"segmentation t = {t}: expected 0..{diffusion.num_timesteps}")
    idx = torch.full((x0.shape[0],), max(t - 1, 0), device=x0.device, dtype=torch.long)
    x_t = x0
    if t > 0:
        noise = torch.randn(x0.shape, device=x0.device, generator=generator, dtype=x0.dtype)
        x_t = diffusion.q_sample(x0, idx, noise)
    return model.predict_masks(x_t, idx, y)
