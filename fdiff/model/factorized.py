"""The standard DDPM U-Net and the factorized model (Sec. 3, Fig. 2); built by
:func:`fdiff.model.build.build_model`.

:class:`FactorizedUNet` is one model with a ``decoding`` choice:

- ``shared`` (the paper's method, Eq. 6-7): K weight-shared decoder branches, branch k sees
  h_mid and h_enc * m_k; eps = sum_k eps_k * m_k. The K branches run as ONE decoder call with
  K folded into the batch dimension.
- ``concat`` (Eq. 5): one decoder on concat[h_mid, m] and concat[h_enc, m].
- ``mask_hmid``: like ``shared`` but the masks multiply h_mid instead of h_enc.
- ``unshared``: like ``shared`` but with K separate decoders.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from fdiff.config import ModelConfig
from fdiff.model.blocks import TimestepEmbed
from fdiff.model.halves import DecoderHalf, Encoder, Middle


class ModelOutput(NamedTuple):
    """eps: [N x 3 x H x W]; masks: [N x K x H x W] softmax masks (None for the standard U-Net)."""

    eps: torch.Tensor
    masks: torch.Tensor | None


def resize_masks(m: torch.Tensor, size: int) -> torch.Tensor:
    """Resize masks [N x K x H x W] to [N x K x size x size] by area averaging.

    Area averaging keeps the K channels summing to 1 at every resolution.
    """
    if m.shape[-1] == size:
        return m
    return F.interpolate(m, size=(size, size), mode="area")


def fold_regions(h: torch.Tensor, m: torch.Tensor | None, k: int) -> torch.Tensor:
    """Batch K branches: [N x C x H x W] (times masks [N x K x H x W]) -> [N*K x C x H x W].

    Row n*K + k holds h_n * m_{n,k} (or h_n unmasked when ``m`` is None).
    """
    n, c, hh, ww = h.shape
    if m is None:
        return h.unsqueeze(1).expand(n, k, c, hh, ww).reshape(n * k, c, hh, ww)
    m = resize_masks(m, hh).to(h.dtype)
    return (h.unsqueeze(1) * m.unsqueeze(2)).reshape(n * k, c, hh, ww)


def combine_regions(eps_k: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Eq. 7: eps = sum_k eps_k * m_k.

    :param eps_k: [N*K x 3 x H x W] branch predictions; :param m: [N x K x H x W] masks.
    :return: [N x 3 x H x W].
    """
    n, k = m.shape[:2]
    eps_k = eps_k.reshape(n, k, *eps_k.shape[1:])
    return (eps_k * m.unsqueeze(2).to(eps_k.dtype)).sum(dim=1)


class UNet(nn.Module):
    """The standard DDPM U-Net (the paper's "DDPM" baseline): encoder, middle, decoder."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        emb = 4 * cfg.base_channels
        self.embed = TimestepEmbed(cfg.base_channels, emb, cfg.num_classes)
        self.encoder = Encoder(cfg, emb)
        self.middle = Middle(cfg, self.encoder.out_channels, emb)
        self.decoder = DecoderHalf(cfg, emb, self.encoder.skip_channels, cfg.in_channels)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None):
        emb = self.embed(t, y)
        h_enc = self.encoder(x, emb)
        h_mid = self.middle(h_enc[-1], emb)
        return ModelOutput(self.decoder(h_mid, h_enc, emb), None)

    def decoder_features(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None
    ) -> list[torch.Tensor]:
        """The output of every decoder block, lowest resolution first (DatasetDDPM features)."""
        emb = self.embed(t, y)
        h_enc = self.encoder(x, emb)
        h_mid = self.middle(h_enc[-1], emb)
        feats: list[torch.Tensor] = []
        self.decoder(h_mid, h_enc, emb, features=feats)
        return feats


class FactorizedUNet(nn.Module):
    """The factorized diffusion architecture: encoder, middle, mask generator, decoder(s)."""

    def __init__(self, cfg: ModelConfig, num_regions: int | None = None):
        """``num_regions``: the K masks the decoder(s) combine (default ``cfg.num_regions``)."""
        super().__init__()
        self.cfg = cfg
        self.num_regions = k = num_regions or cfg.num_regions
        emb = 4 * cfg.base_channels
        self.embed = TimestepEmbed(cfg.base_channels, emb, cfg.num_classes)
        self.encoder = Encoder(cfg, emb)
        self.middle = Middle(cfg, self.encoder.out_channels, emb)
        skips = self.encoder.skip_channels
        self.build_mask_generator(cfg, emb, skips)
        if cfg.decoding == "unshared":
            self.decoders = nn.ModuleList(
                DecoderHalf(cfg, emb, skips, cfg.in_channels) for _ in range(k)
            )
        else:
            extra = k if cfg.decoding == "concat" else 0
            self.decoder = DecoderHalf(cfg, emb, skips, cfg.in_channels, extra_channels=extra)

    def build_mask_generator(self, cfg: ModelConfig, emb: int, skips: list[int]) -> None:
        """Eq. 4: a decoder-shaped network ending in K logits (softmax in ``mask_probs``)."""
        self.mask_generator = DecoderHalf(cfg, emb, skips, self.num_regions, zero_head=False)

    # -- Eq. 2-4 -----------------------------------------------------------------------------
    def encode(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None):
        """Eq. 2-3: returns (emb [N x E], h_enc list, h_mid [N x C x h x w])."""
        emb = self.embed(t, y)
        h_enc = self.encoder(x, emb)
        return emb, h_enc, self.middle(h_enc[-1], emb)

    def mask_probs(self, h_mid, h_enc, emb) -> torch.Tensor:
        """Eq. 4: m = softmax(theta_mask(h_mid, h_enc, t)) over K: [N x K x H x W], float32."""
        return torch.softmax(self.mask_generator(h_mid, h_enc, emb).float(), dim=1)

    def predict_masks(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None
    ) -> torch.Tensor:
        """The masks-only path (segmentation): encoder, middle and mask generator, no decoder."""
        emb, h_enc, h_mid = self.encode(x, t, y)
        return self.mask_probs(h_mid, h_enc, emb)

    # -- Eq. 5-7 -----------------------------------------------------------------------------
    def decode(self, h_mid, h_enc, m, emb) -> torch.Tensor:
        """Predict eps [N x 3 x H x W] from the shared features and the masks m [N x K x H x W]."""
        k = self.num_regions
        decoding = self.cfg.decoding
        if decoding == "concat":  # Eq. 5
            h_mid_c = torch.cat([h_mid, resize_masks(m, h_mid.shape[-1]).to(h_mid.dtype)], 1)
            h_enc_c = [torch.cat([h, resize_masks(m, h.shape[-1]).to(h.dtype)], 1) for h in h_enc]
            return self.decoder(h_mid_c, h_enc_c, emb)
        if decoding == "unshared":  # K decoders with their own weights
            eps_k = [
                dec(h_mid, [h * resize_masks(m[:, i : i + 1], h.shape[-1]) for h in h_enc], emb)
                for i, dec in enumerate(self.decoders)
            ]
            return combine_regions(torch.stack(eps_k, 1).flatten(0, 1), m)
        # shared (Eq. 6) or mask_hmid: one batched call over N*K branches.
        emb_k = emb.repeat_interleave(k, dim=0)
        if decoding == "shared":
            mid_k = fold_regions(h_mid, None, k)
            enc_k = [fold_regions(h, m, k) for h in h_enc]
        else:
            mid_k = fold_regions(h_mid, m, k)
            enc_k = [fold_regions(h, None, k) for h in h_enc]
        return combine_regions(self.decoder(mid_k, enc_k, emb_k), m)  # Eq. 7

    def decode_looped(self, h_mid, h_enc, m, emb) -> torch.Tensor:
        """Reference for ``shared``/``mask_hmid``: a Python loop over the K branches."""
        eps = 0
        for i in range(self.num_regions):
            mi = m[:, i : i + 1]
            if self.cfg.decoding == "shared":
                eps_i = self.decoder(h_mid, [h * resize_masks(mi, h.shape[-1]) for h in h_enc], emb)
            elif self.cfg.decoding == "mask_hmid":
                eps_i = self.decoder(h_mid * resize_masks(mi, h_mid.shape[-1]), h_enc, emb)
            else:
                raise ValueError(f"no looped reference for decoding {self.cfg.decoding!r}")
            eps = eps + eps_i * mi
        return eps

    def forward(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None, looped: bool = False
    ) -> ModelOutput:
        emb, h_enc, h_mid = self.encode(x, t, y)
        m = self.mask_probs(h_mid, h_enc, emb)
        decode = self.decode_looped if looped else self.decode
        return ModelOutput(decode(h_mid, h_enc, m, emb), m)
