"""The noise process and the samplers, checked against closed-form answers."""

from __future__ import annotations

import math

import pytest
import torch

from fdiff.config import DiffusionConfig
from fdiff.diffusion.gaussian import GaussianDiffusion
from fdiff.diffusion.samplers import ddim_sample, ddim_timesteps, ddpm_sample
from fdiff.errors import FdiffError
from fdiff.model.build import ModelOutput


@pytest.fixture(scope="module")
def diffusion():
    return GaussianDiffusion(DiffusionConfig())


def test_linear_schedule_pinned(diffusion):
    assert diffusion.betas.dtype == torch.float64
    assert diffusion.betas[0].item() == pytest.approx(1e-4)
    assert diffusion.betas[-1].item() == pytest.approx(0.02)
    # alpha-bar of the linear schedule at paper t = 1, 100, 500, 1000
    for i, want in [(0, 0.9999), (99, 0.89701814567), (499, 0.07858724288), (999, 4.03582977e-5)]:
        assert diffusion.alphas_cumprod[i].item() == pytest.approx(want, rel=1e-8)
    assert diffusion.posterior_variance[0].item() == 0.0
    assert diffusion.posterior_variance[499].item() == pytest.approx(0.0100313554, rel=1e-7)


def test_q_sample_statistics(diffusion):
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((20000, 1, 1, 1), 0.7)
    for i in (10, 300, 900):
        t = torch.full((x0.shape[0],), i)
        xt = diffusion.q_sample(x0, t, torch.randn(x0.shape, generator=g))
        abar = diffusion.alphas_cumprod[i].item()
        assert xt.mean().item() == pytest.approx(math.sqrt(abar) * 0.7, abs=0.02)
        assert xt.var().item() == pytest.approx(1 - abar, rel=0.05, abs=2e-4)


class GaussianOracle(torch.nn.Module):
    """The exact eps-prediction for data x0 ~ N(mu, s^2 I):

    E[eps | x_t] = sqrt(1 - abar) (x_t - sqrt(abar) mu) / (abar s^2 + 1 - abar).
    """

    def __init__(self, diffusion, mu, s):
        super().__init__()
        self.d, self.mu, self.s = diffusion, mu, s
        self.dummy = torch.nn.Parameter(torch.zeros(()))

    def forward(self, x, t, y=None):
        abar = self.d.alphas_cumprod[t].float().view(-1, 1, 1, 1)
        eps = (1 - abar).sqrt() * (x - abar.sqrt() * self.mu) / (abar * self.s**2 + 1 - abar)
        return ModelOutput(eps, None)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim"])
def test_samplers_recover_a_known_gaussian(diffusion, sampler):
    mu, s = 0.3, 0.2
    oracle = GaussianOracle(diffusion, mu, s)
    g = torch.Generator().manual_seed(0)
    shape = (4000, 3, 2, 2)
    if sampler == "ddpm":
        out = ddpm_sample(oracle, diffusion, shape, generator=g, progress=False)
    else:
        # deterministic DDIM on every step; fewer steps shrink a narrow Gaussian (100 steps:
        # std 0.188 for 0.2, a discretisation error that vanishes as steps grow)
        out = ddim_sample(oracle, diffusion, shape, steps=1000, generator=g, progress=False)
    x = out.images
    assert out.masks is None
    assert x.mean().item() == pytest.approx(mu, abs=0.01)
    assert x.std().item() == pytest.approx(s, rel=0.05)


def test_ddim_timesteps_descend_to_zero():
    seq = ddim_timesteps(1000, 10)
    assert seq[0] == 999 and seq[-1] == 0 and len(seq) == 10
    assert all(a > b for a, b in zip(seq, seq[1:], strict=False))
    with pytest.raises(FdiffError, match="0 DDIM steps: expected 1..1000"):
        ddim_timesteps(1000, 0)


def test_ddpm_records_trajectory_and_returns_last_step_masks(diffusion):
    from fdiff.config import model_config_from_dict
    from fdiff.model.build import build_model

    small = GaussianDiffusion(DiffusionConfig(timesteps=20))
    model = build_model(model_config_from_dict({"preset": "tiny"})).eval()
    out = ddpm_sample(model, small, (2, 3, 16, 16), record={20, 10, 1}, progress=False)
    assert [t for t, _, _ in out.trajectory] == [20, 10, 1]
    # Algorithm 2: the masks returned are those of the last step (t = 1)
    torch.testing.assert_close(out.trajectory[-1][2], out.masks)
    assert out.images.min() >= -1 and out.images.max() <= 1
