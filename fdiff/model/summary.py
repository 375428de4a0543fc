"""Model size and cost: parameters per part and forward GFLOPs per sample."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from fdiff.config import ModelConfig
from fdiff.model.build import build_model, parameter_groups


@dataclass
class ModelSummary:
    preset: str
    arch: str  # the method label (ModelConfig.method)
    parameters: dict[str, int]  # per part
    total_parameters: int
    gflops_forward: float  # one sample, full forward (eps and masks)
    gflops_masks_only: float | None  # one sample, the segmentation path (factorized only)


def model_flops(
    model: torch.nn.Module, cfg: ModelConfig, kind: str = "forward", looped: bool = False
) -> float:
    """FLOPs of one image through ``model``, counted by torch.utils.flop_counter: the one FLOP
    counter of fdiff (``fdiff summary`` and ``fdiff bench``).

    ``kind``: ``forward`` (eps and masks), ``masks`` (the segmentation path: encoder, middle,
    mask generator) or ``train`` (forward and backward of an eps loss, about 3x the forward);
    ``looped``: the factorized model's reference loop over K instead of the batched decoder.
    Run it on a model built on the meta device: no memory for weights or activations, no
    arithmetic.
    """
    x = torch.zeros(1, cfg.in_channels, cfg.resolution, cfg.resolution, device="meta")
    t = torch.zeros(1, dtype=torch.long, device="meta")
    y = torch.zeros(1, dtype=torch.long, device="meta") if cfg.num_classes else None
    extra = {"looped": True} if looped else {}
    counter = FlopCounterMode(display=False)
    with counter:
        if kind == "masks":
            with torch.no_grad():
                model.predict_masks(x, t, y)
        elif kind == "forward":
            with torch.no_grad():
                model(x, t, y, **extra)
        elif kind == "train":
            model(x, t, y, **extra).eps.float().pow(2).mean().backward()
        else:
            raise ValueError(f"FLOP count kind {kind!r}: expected forward, masks or train")
    return float(counter.get_total_flops())


def count_flops(cfg: ModelConfig, kind: str = "forward", looped: bool = False) -> float:
    """:func:`model_flops` of the network ``cfg`` names, built on the meta device."""
    with torch.device("meta"):
        model = build_model(cfg)
    return model_flops(model, cfg, kind, looped)


def summarize(cfg: ModelConfig, preset: str = "custom") -> ModelSummary:
    with torch.device("meta"):
        model = build_model(cfg)
    groups = parameter_groups(model)
    masks = model_flops(model, cfg, "masks") / 1e9 if cfg.factorized else None
    return ModelSummary(
        preset, cfg.method, groups, sum(groups.values()), model_flops(model, cfg) / 1e9, masks
    )
