"""The two halves of a DDPM U-Net (Fig. 2, left).

- :class:`Encoder` (theta_enc, Eq. 2): x_t -> h_enc, the list of every skip feature.
- :class:`Middle` (theta_mid, Eq. 3): the last skip -> h_mid.
- :class:`DecoderHalf`: (h_mid, h_enc) -> output, consuming the skips in reverse order. Its head
  is a parameter: 3 channels of epsilon for the decoder theta_dec, K logits for the mask
  generator theta_mask (Eq. 4).
"""

from __future__ import annotations

import torch
from torch import nn

from fdiff.config import ModelConfig
from fdiff.model.blocks import (
    AttentionBlock,
    Downsample,
    EmbedSequential,
    ResBlock,
    Upsample,
    group_norm,
    zero_module,
)


class Encoder(nn.Module):
    """theta_enc (Eq. 2): [N x 3 x H x W] -> h_enc, a list of [N x C_i x H_i x W_i] skips.

    After construction ``skip_channels`` and ``skip_resolutions`` describe the skips, in the
    order they are produced (highest resolution first).
    """

    def __init__(self, cfg: ModelConfig, emb_channels: int):
        super().__init__()
        c = cfg.base_channels
        self.input = nn.Conv2d(cfg.in_channels, c, 3, padding=1)
        self.blocks = nn.ModuleList()
        ch, ds = c, cfg.resolution
        self.skip_channels, self.skip_resolutions = [ch], [ds]
        for level, mult in enumerate(cfg.channel_mult):
            for _ in range(cfg.num_res_blocks):
                layers: list[nn.Module] = [
                    ResBlock(ch, emb_channels, mult * c, cfg.dropout, cfg.use_scale_shift_norm)
                ]
                ch = mult * c
                if ds in cfg.attention_resolutions:
                    layers.append(AttentionBlock(ch, cfg.num_heads))
                self.blocks.append(EmbedSequential(*layers))
                self.skip_channels.append(ch)
                self.skip_resolutions.append(ds)
            if level != len(cfg.channel_mult) - 1:
                self.blocks.append(EmbedSequential(Downsample(ch)))
                ds //= 2
                self.skip_channels.append(ch)
                self.skip_resolutions.append(ds)
        self.out_channels = ch

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> list[torch.Tensor]:
        h = self.input(x)
        h_enc = [h]
        for block in self.blocks:
            h = block(h, emb)
            h_enc.append(h)
        return h_enc


class Middle(nn.Module):
    """theta_mid (Eq. 3): ResBlock, attention, ResBlock at the lowest resolution."""

    def __init__(self, cfg: ModelConfig, channels: int, emb_channels: int):
        super().__init__()
        self.block = EmbedSequential(
            ResBlock(channels, emb_channels, channels, cfg.dropout, cfg.use_scale_shift_norm),
            AttentionBlock(channels, cfg.num_heads),
            ResBlock(channels, emb_channels, channels, cfg.dropout, cfg.use_scale_shift_norm),
        )

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return self.block(h, emb)


class DecoderHalf(nn.Module):
    """The second half of a U-Net: (h_mid, h_enc, emb) -> [N x out_channels x H x W].

    :param skip_channels: the encoder's ``skip_channels``.
    :param out_channels: width of the head (3 for epsilon, K for mask logits).
    :param extra_channels: channels appended to h_mid and to every skip by the caller (the
        ``concat`` variant, Eq. 5, appends the K masks).
    :param zero_head: zero-initialise the head. Right for epsilon (the network starts at 0);
        wrong for mask logits, where uniform masks and weight-shared branches form a symmetric
        point from which the mask generator receives no gradient.
    """

    def __init__(
        self,
        cfg: ModelConfig,
        emb_channels: int,
        skip_channels: list[int],
        out_channels: int,
        extra_channels: int = 0,
        zero_head: bool = True,
    ):
        super().__init__()
        c = cfg.base_channels
        skips = list(skip_channels)
        ch = skips[-1] + extra_channels
        ds = cfg.resolution // 2 ** (len(cfg.channel_mult) - 1)
        self.blocks = nn.ModuleList()
        for level, mult in reversed(list(enumerate(cfg.channel_mult))):
            for i in range(cfg.num_res_blocks + 1):
                skip_ch = skips.pop() + extra_channels
                layers: list[nn.Module] = [
                    ResBlock(
                        ch + skip_ch, emb_channels, mult * c, cfg.dropout, cfg.use_scale_shift_norm
                    )
                ]
                ch = mult * c
                if ds in cfg.attention_resolutions:
                    layers.append(AttentionBlock(ch, cfg.num_heads))
                if level and i == cfg.num_res_blocks:
                    layers.append(Upsample(ch))
                    ds *= 2
                self.blocks.append(EmbedSequential(*layers))
        conv = nn.Conv2d(ch, out_channels, 3, padding=1)
        self.head = nn.Sequential(
            group_norm(ch), nn.SiLU(), zero_module(conv) if zero_head else conv
        )

    def forward(
        self,
        h_mid: torch.Tensor,
        h_enc: list[torch.Tensor],
        emb: torch.Tensor,
        features: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Decode; if ``features`` is a list, every block's output is appended to it."""
        h = h_mid
        for block, skip in zip(self.blocks, reversed(h_enc), strict=True):
            h = block(torch.cat([h, skip.to(h.dtype)], dim=1), emb)
            if features is not None:
                features.append(h)
        return self.head(h)
