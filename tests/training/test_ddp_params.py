"""Every model the workflow trains can train under DDP: one loss backward gives every parameter
a gradient. DistributedDataParallel (fdiff.training.trainer, find_unused_parameters off) fails at
the next step on a parameter without one. torchrun itself is run by tests/training/test_ddp_train.py
and, for one experiment per launch shape of the paper, by the rehearsal; this covers every arch, the
hierarchical and the class-conditional model in one process."""

from __future__ import annotations

import pytest
import torch

from fdiff.config import ARCH_VARIANTS, DiffusionConfig, model_config_from_dict
from fdiff.diffusion.gaussian import GaussianDiffusion
from fdiff.model.build import build_model

VARIANTS = [
    *({"arch": a, "decoding": d} for a, d in ARCH_VARIANTS.values()),
    {"arch": "factorized", "decoding": "shared", "sub_regions": 2},  # hierarchical (Fig. 15)
    {"arch": "factorized", "decoding": "shared", "num_classes": 5},  # ImageNet-64's kind
    {"arch": "ddpm", "decoding": "shared", "num_classes": 5},
]


@pytest.mark.parametrize("over", VARIANTS, ids=lambda o: "-".join(map(str, o.values())))
def test_one_backward_reaches_every_parameter(over):
    torch.manual_seed(0)
    cfg = model_config_from_dict({"preset": "tiny", "num_regions": 3, **over}, "test")
    model = build_model(cfg)
    diffusion = GaussianDiffusion(DiffusionConfig(timesteps=10))
    x0 = torch.rand(2, 3, 16, 16) * 2 - 1
    y = torch.tensor([1, 3]) if cfg.num_classes else None
    loss = diffusion.loss(model, x0, torch.tensor([2, 7]), torch.randn_like(x0), y)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{cfg.method}: no gradient for {missing}"
