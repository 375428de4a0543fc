"""Activation checkpointing and the ``fdiff bench`` smoke check."""

from __future__ import annotations

import torch
import torch.utils.checkpoint

from fdiff.config import DiffusionConfig, model_config_from_dict
from fdiff.diffusion import GaussianDiffusion
from fdiff.models import build_model
from fdiff.nn import EmbedSequential, set_activation_checkpointing


def _grads(model, diffusion, x0, t, noise, seed):
    model.zero_grad(set_to_none=True)
    torch.manual_seed(seed)  # dropout
    loss = diffusion.loss(model, x0, t, noise)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}


def test_activation_checkpointing_gives_equal_gradients(monkeypatch):
    # dropout > 0: the recomputed forward must draw the same dropout masks
    cfg = model_config_from_dict({"preset": "tiny", "arch": "factorized", "dropout": 0.2})
    torch.manual_seed(0)
    model = build_model(cfg).train()
    # a non-zero start so every parameter (zero-initialised heads included) gets a gradient
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    diffusion = GaussianDiffusion(DiffusionConfig())
    x0 = torch.randn(2, 3, cfg.resolution, cfg.resolution)
    t = torch.tensor([10, 700])
    noise = torch.randn_like(x0)

    loss0, g0 = _grads(model, diffusion, x0, t, noise, seed=1)

    calls = []
    real = torch.utils.checkpoint.checkpoint
    monkeypatch.setattr(
        torch.utils.checkpoint, "checkpoint", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    n_blocks = set_activation_checkpointing(model, True)
    assert n_blocks == sum(isinstance(m, EmbedSequential) for m in model.modules()) > 0
    loss1, g1 = _grads(model, diffusion, x0, t, noise, seed=1)
    assert len(calls) >= n_blocks  # every block ran through checkpoint (the K-fold decoder too)

    assert torch.equal(loss0, loss1)
    assert g0.keys() == g1.keys()
    for name in g0:
        assert torch.allclose(g0[name], g1[name], rtol=1e-5, atol=1e-7), name
    assert any(g.abs().sum() > 0 for g in g0.values())

    # off again, and never in eval / no-grad (sampling, EMA)
    calls.clear()
    model.eval()
    with torch.no_grad():
        model(x0, t)
    assert not calls
    set_activation_checkpointing(model, False)
    model.train()
    _grads(model, diffusion, x0, t, noise, seed=1)
    assert not calls
