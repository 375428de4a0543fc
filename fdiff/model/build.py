"""The networks a :class:`~fdiff.config.ModelConfig` names, and where each is defined:

- :class:`~fdiff.model.factorized.UNet`, the standard DDPM U-Net (the paper's "DDPM" baseline), and
  :class:`~fdiff.model.factorized.FactorizedUNet`, the factorized model with its ``decoding`` choice
  (Sec. 3, Fig. 2): :mod:`fdiff.model.factorized`;
- :class:`~fdiff.model.hierarchical.HierarchicalFactorizedUNet`, the appendix's two mask levels
  (``model.sub_regions``): :mod:`fdiff.model.hierarchical`.

:func:`build_model` picks one; this module imports both and neither imports it back.
"""

from __future__ import annotations

from torch import nn

from fdiff.config import ModelConfig
from fdiff.model.factorized import (
    FactorizedUNet,
    ModelOutput,
    UNet,
    combine_regions,
    fold_regions,
    resize_masks,
)
from fdiff.model.hierarchical import HierarchicalFactorizedUNet

__all__ = [
    "FactorizedUNet",
    "HierarchicalFactorizedUNet",
    "ModelOutput",
    "UNet",
    "build_model",
    "combine_regions",
    "fold_regions",
    "parameter_groups",
    "resize_masks",
]


def build_model(cfg: ModelConfig) -> UNet | FactorizedUNet:
    """The network that ``cfg.arch`` names (hierarchical when ``cfg.sub_regions`` >= 2)."""
    if cfg.sub_regions:
        return HierarchicalFactorizedUNet(cfg, cfg.sub_regions)
    return FactorizedUNet(cfg) if cfg.factorized else UNet(cfg)


def parameter_groups(model: nn.Module) -> dict[str, int]:
    """Parameters per part (embed, encoder, middle, mask_generator, decoder)."""
    groups: dict[str, int] = {}
    for name, p in model.named_parameters():
        part = name.split(".")[0]
        part = "decoder" if part == "decoders" else part
        groups[part] = groups.get(part, 0) + p.numel()
    return groups
