"""Samplers: DDPM ancestral sampling (Algorithm 2), DDIM, and real-image segmentation (Sec. 3.4).

``ddpm_steps`` and ``ddim_steps`` are the loops, written as generators that yield every reverse
step (like guided-diffusion's ``p_sample_loop_progressive``); the formulas of each step live on
:class:`~fdiff.diffusion.gaussian.GaussianDiffusion`. ``ddpm_sample`` / ``ddim_sample`` run a loop
to its end with :func:`collect`: the images and the masks the model predicted at its last step
(Algorithm 2 collects m-hat_0 with Eq. 4 when t = 1) and, on request, the trajectory (x_t and
the masks at chosen steps) for the refinement figure (Fig. 10).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import nn

from fdiff.diffusion.gaussian import GaussianDiffusion
from fdiff.errors import FdiffError
from fdiff.progress import progress as pbar


class Step(NamedTuple):
    """One reverse step: the paper's t it started from, x_{t-1} [N x 3 x H x W] it produced,
    and the masks [N x K x H x W] the model predicted at t (None for the standard U-Net)."""

    t: int
    x: torch.Tensor
    masks: torch.Tensor | None


@dataclass
class SampleResult:
    """images [N x 3 x H x W] in [-1, 1]; masks [N x K x H x W] (None for the standard U-Net);
    trajectory: (paper t, x_{t-1} [N x 3 x H x W], masks or None) at the recorded steps."""

    images: torch.Tensor
    masks: torch.Tensor | None
    trajectory: list[tuple[int, torch.Tensor, torch.Tensor | None]] = field(default_factory=list)


def _randn(shape, like_device, generator: torch.Generator | None) -> torch.Tensor:
    return torch.randn(shape, device=like_device, generator=generator)


def collect(steps: Iterator[Step], record: set[int] | None = None) -> SampleResult:
    """Run a sampler loop to its end: the last step's x (clamped to [-1, 1]) and masks, and the
    steps whose paper t is in ``record`` (moved to the CPU)."""
    traj, last = [], None
    for last in steps:
        if record and last.t in record:
            m = None if last.masks is None else last.masks.cpu()
            traj.append((last.t, last.x.cpu(), m))
    if last is None:
        raise ValueError("the sampler made no step")
    return SampleResult(last.x.clamp(-1, 1), last.masks, traj)


@torch.no_grad()
def ddpm_steps(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    shape: tuple[int, int, int, int],
    y: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
) -> Iterator[Step]:
    """Algorithm 2, step by step. :param shape: (N, 3, H, W)."""
    device = device or next(model.parameters()).device
    x = _randn(shape, device, generator)  # x_T ~ N(0, I)
    for i in pbar(range(diffusion.num_timesteps - 1, -1, -1), desc="ddpm", disable=not progress,
                  leave=False):  # fmt: skip
        # for t = T, ..., 1 (index i = t - 1)
        t = torch.full((shape[0],), i, device=device, dtype=torch.long)
        out = model(x, t, y)  # eps_theta(x_t, t) and the masks m-hat (Eq. 4)
        # Eq. 10: z ~ N(0, I) if t > 1 else z = 0
        z = _randn(shape, device, generator) if i > 0 else torch.zeros_like(x)
        x = diffusion.ddpm_step(x, t, out.eps.float(), z)  # Eq. 9: x_{t-1}
        yield Step(i + 1, x, out.masks)  # at t = 1 the masks are m-hat_0 (Algorithm 2)


def ddim_timesteps(num_timesteps: int, steps: int) -> list[int]:
    """``steps`` indices evenly spaced over [0, T-1], descending, always ending at 0."""
    if not 1 <= steps <= num_timesteps:
        raise FdiffError(f"{steps} DDIM steps: expected 1..{num_timesteps}", arg="steps")
    seq = torch.linspace(0, num_timesteps - 1, steps).round().long().unique().tolist()
    return sorted(seq, reverse=True)


@torch.no_grad()
def ddim_steps(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    shape: tuple[int, int, int, int],
    steps: int = 100,
    eta: float = 0.0,
    y: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    progress: bool = True,
    device: torch.device | str | None = None,
) -> Iterator[Step]:
    """DDIM (Song et al., Eq. 12) on a subsequence of ``steps`` timesteps, step by step;
    eta = 0 is deterministic."""
    device = device or next(model.parameters()).device
    x = _randn(shape, device, generator)  # x_T ~ N(0, I)
    seq = ddim_timesteps(diffusion.num_timesteps, steps)
    for j, i in enumerate(pbar(seq, desc=f"ddim{steps}", disable=not progress, leave=False)):
        t = torch.full((shape[0],), i, device=device, dtype=torch.long)
        out = model(x, t, y)  # eps_theta(x_t, t) and the masks
        last = j + 1 == len(seq)
        t_prev = None if last else torch.full_like(t, seq[j + 1])  # None: the step to x_0
        x, sigma = diffusion.ddim_step(x, t, out.eps.float(), t_prev, eta)
        if eta > 0 and not last:  # the stochastic part (eta > 0), never on the step to x_0
            x = x + sigma * _randn(shape, device, generator)
        yield Step(i + 1, x, out.masks)


def ddpm_sample(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    shape: tuple[int, int, int, int],
    record: set[int] | None = None,
    **loop,
) -> SampleResult:
    """Algorithm 2 to its end; ``record``: paper t whose x and masks to keep; ``loop``: the
    keywords of :func:`ddpm_steps` (y, generator, progress, device)."""
    return collect(ddpm_steps(model, diffusion, shape, **loop), record)


def ddim_sample(
    model: nn.Module,
    diffusion: GaussianDiffusion,
    shape: tuple[int, int, int, int],
    steps: int = 100,
    eta: float = 0.0,
    record: set[int] | None = None,
    **loop,
) -> SampleResult:
    """DDIM to its end; ``record`` as for :func:`ddpm_sample`; ``loop``: the keywords of
    :func:`ddim_steps` (y, generator, progress, device)."""
    return collect(ddim_steps(model, diffusion, shape, steps, eta, **loop), record)


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
        raise FdiffError(f"{t}: expected 0..{diffusion.num_timesteps} (the model's T)", arg="t")
    idx = torch.full((x0.shape[0],), max(t - 1, 0), device=x0.device, dtype=torch.long)
    x_t = x0
    if t > 0:
        noise = torch.randn(x0.shape, device=x0.device, generator=generator, dtype=x0.dtype)
        x_t = diffusion.q_sample(x0, idx, noise)
    return model.predict_masks(x_t, idx, y)
