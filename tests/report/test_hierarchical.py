"""The hierarchical variant (appendix Fig. 15): mask levels, shapes, a training step."""

from __future__ import annotations

import torch

from fdiff.config import DiffusionConfig, model_config_from_dict
from fdiff.diffusion.gaussian import GaussianDiffusion
from fdiff.model.hierarchical import HierarchicalFactorizedUNet


def test_levels_nest_and_the_model_trains():
    torch.manual_seed(0)
    cfg = model_config_from_dict({"preset": "tiny", "num_regions": 2})
    model = HierarchicalFactorizedUNet(cfg, sub_regions=3)
    x, t = torch.rand(2, 3, 16, 16) * 2 - 1, torch.tensor([3, 7])
    m1, joint = model.predict_mask_levels(x, t)
    assert m1.shape == (2, 2, 16, 16) and joint.shape == (2, 6, 16, 16)
    assert torch.allclose(joint.sum(1), torch.ones(2, 16, 16), atol=1e-5)
    # sub-regions i*K2 .. i*K2+K2-1 partition first-level region i
    assert torch.allclose(joint.view(2, 2, 3, 16, 16).sum(2), m1, atol=1e-5)
    out = model(x, t)
    assert out.eps.shape == x.shape and torch.allclose(out.masks, joint, atol=1e-6)

    diffusion = GaussianDiffusion(DiffusionConfig(timesteps=10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = diffusion.loss(model, x, t, torch.randn_like(x))
    loss.backward()
    assert all(p.grad is not None for p in model.mask_generator2.parameters())
    opt.step()
