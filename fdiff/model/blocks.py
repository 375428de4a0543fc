"""Building blocks of the U-Net, as in improved/guided-diffusion.

ResBlock (GroupNorm, SiLU, timestep embedding with optional scale-shift norm, dropout),
multi-head self-attention through ``scaled_dot_product_attention``, and 2x down/up sampling.
Every block that needs the timestep takes ``emb`` [N x E].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with 32 groups where the width allows it (fewer for the tiny presets)."""
    groups = max(g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0)
    return nn.GroupNorm(groups, channels)


def zero_module(module: nn.Module) -> nn.Module:
    """Zero a module's parameters: residual branches and output heads start as identity/zero."""
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps.

    :param t: [N] timesteps.
    :return: [N x dim] float32 embedding (cos half, then sin half, as in guided-diffusion).
    """
    half = dim // 2
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half
    )
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


class TimestepEmbed(nn.Module):
    """t (and an optional class label y) -> embedding [N x E] fed to every ResBlock."""

    def __init__(self, model_channels: int, emb_channels: int, num_classes: int = 0):
        super().__init__()
        self.model_channels = model_channels
        self.mlp = nn.Sequential(
            nn.Linear(model_channels, emb_channels),
            nn.SiLU(),
            nn.Linear(emb_channels, emb_channels),
        )
        # Class conditioning (ImageNet-64): a learned embedding added to the timestep embedding.
        self.label_emb = nn.Embedding(num_classes, emb_channels) if num_classes > 0 else None

    def forward(self, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        emb = self.mlp(timestep_embedding(t, self.model_channels))
        if self.label_emb is not None:
            if y is None:
                raise ValueError("this model is class-conditional: pass class labels y [N]")
            emb = emb + self.label_emb(y)
        return emb


class ResBlock(nn.Module):
    """Residual block with timestep conditioning.

    :param x: [N x C_in x H x W]; :param emb: [N x E]; returns [N x C_out x H x W].
    With scale-shift norm the embedding modulates the second GroupNorm as
    ``norm(h) * (1 + scale) + shift`` (Dhariwal and Nichol); otherwise it is added.
    """

    def __init__(
        self,
        in_channels: int,
        emb_channels: int,
        out_channels: int | None = None,
        dropout: float = 0.0,
        use_scale_shift_norm: bool = True,
    ):
        super().__init__()
        out_channels = out_channels or in_channels
        self.use_scale_shift_norm = use_scale_shift_norm
        self.in_layers = nn.Sequential(
            group_norm(in_channels), nn.SiLU(), nn.Conv2d(in_channels, out_channels, 3, padding=1)
        )
        self.emb_layers = nn.Sequential(
            nn.SiLU(),
            nn.Linear(emb_channels, 2 * out_channels if use_scale_shift_norm else out_channels),
        )
        self.out_norm = group_norm(out_channels)
        self.out_layers = nn.Sequential(
            nn.SiLU(),
            nn.Dropout(dropout),
            zero_module(nn.Conv2d(out_channels, out_channels, 3, padding=1)),
        )
        self.skip = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Conv2d(in_channels, out_channels, 1)
        )

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x)
        e = self.emb_layers(emb).to(h.dtype)[:, :, None, None]
        if self.use_scale_shift_norm:
            scale, shift = e.chunk(2, dim=1)
            h = self.out_norm(h) * (1 + scale) + shift
        else:
            h = self.out_norm(h + e)
        return self.skip(x) + self.out_layers(h)


class AttentionBlock(nn.Module):
    """Multi-head self-attention over spatial positions, fused by scaled_dot_product_attention.

    :param x: [N x C x H x W]; returns [N x C x H x W] (residual).
    """

    def __init__(self, channels: int, num_heads: int = 4):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"attention: {channels} channels do not split into {num_heads} heads")
        self.num_heads = num_heads
        self.norm = group_norm(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj = zero_module(nn.Conv1d(channels, channels, 1))

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        n, c, h, w = x.shape
        qkv = self.qkv(self.norm(x).reshape(n, c, h * w))  # [N x 3C x L]
        # [N x 3C x L] -> 3 x [N x heads x L x C/heads]
        q, k, v = qkv.reshape(n, 3, self.num_heads, c // self.num_heads, h * w).permute(
            1, 0, 2, 4, 3
        )
        a = F.scaled_dot_product_attention(q, k, v)  # [N x heads x L x C/heads]
        a = a.permute(0, 1, 3, 2).reshape(n, c, h * w)
        return x + self.proj(a).reshape(n, c, h, w)


class Downsample(nn.Module):
    """Strided 3x3 convolution: [N x C x H x W] -> [N x C x H/2 x W/2]."""

    def __init__(self, channels: int):
        super().__init__()
        self.op = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    """Nearest 2x upsampling then a 3x3 convolution: [N x C x H x W] -> [N x C x 2H x 2W]."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class EmbedSequential(nn.Sequential):
    """A sequence of blocks that each take (x, emb).

    With ``checkpoint = True`` (see :func:`set_activation_checkpointing`) a training forward
    with gradients keeps only the block's inputs and recomputes its activations in the backward
    pass (``torch.utils.checkpoint``, non-reentrant, RNG state preserved so dropout repeats).
    """

    checkpoint: bool = False

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.checkpoint and self.training and torch.is_grad_enabled():
            return torch.utils.checkpoint.checkpoint(self._run, x, emb, use_reentrant=False)
        return self._run(x, emb)

    def _run(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for layer in self:
            x = layer(x, emb)
        return x


def set_activation_checkpointing(model: nn.Module, on: bool = True) -> int:
    """Turn activation checkpointing on or off for every :class:`EmbedSequential` of ``model``.

    Trades about one extra forward per step for activation memory. Returns the number of blocks.
    """
    blocks = [m for m in model.modules() if isinstance(m, EmbedSequential)]
    for m in blocks:
        m.checkpoint = on
    return len(blocks)
