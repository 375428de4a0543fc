"""Model size and cost: parameters per part and forward GFLOPs per sample."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from fdiff.config import ModelConfig
from fdiff.models import build_model, parameter_groups


@dataclass
class ModelSummary:
    preset: str
    arch: str
    parameters: dict[str, int]  # per part
    total_parameters: int
    gflops_forward: float  # one sample, full forward (eps and masks)
    gflops_masks_only: float | None  # one sample, the segmentation path (factorized only)


def forward_flops(model: torch.nn.Module, cfg: ModelConfig, masks_only: bool = False) -> float:
    """FLOPs of one forward pass of a batch of one, counted by torch.utils.flop_counter.

    Runs on the meta device: no memory for weights or activations, no arithmetic.
    """
    x = torch.zeros(1, cfg.in_channels, cfg.resolution, cfg.resolution, device="meta")
    t = torch.zeros(1, dtype=torch.long, device="meta")
    y = torch.zeros(1, dtype=torch.long, device="meta") if cfg.num_classes else None
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        if masks_only:
            model.predict_masks(x, t, y)
        else:
            model(x, t, y)
    return float(counter.get_total_flops())


def summarize(cfg: ModelConfig, preset: str = "custom") -> ModelSummary:
    with torch.device("meta"):
        model = build_model(cfg)
    groups = parameter_groups(model)
    masks = forward_flops(model, cfg, masks_only=True) / 1e9 if cfg.factorized else None
    arch = cfg.method
    return ModelSummary(
        preset, arch, groups, sum(groups.values()), forward_flops(model, cfg) / 1e9, masks
    )
