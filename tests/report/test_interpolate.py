"""Latent interpolation (Fig. 12) on a tiny random model."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from fdiff.cli import main
from fdiff.config import DiffusionConfig, model_config_from_dict
from fdiff.diffusion.gaussian import GaussianDiffusion
from fdiff.errors import FdiffError
from fdiff.inference.interpolate import interpolate, lerp, slerp
from fdiff.model.build import build_model
from fdiff.training.checkpoint import model_state, save

T = 20  # a short schedule keeps the reverse process fast


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = model_config_from_dict({"preset": "tiny"})
    dcfg = DiffusionConfig(timesteps=T)
    return cfg, dcfg, build_model(cfg).eval(), GaussianDiffusion(dcfg)


def test_lerp_and_slerp_ends_and_norm():
    a, b = torch.zeros(1, 4), torch.zeros(1, 4)
    a[0, 0], b[0, 1] = 2.0, 2.0
    lam = torch.tensor([0.0, 0.5, 1.0])
    for f in (lerp, slerp):
        out = f(a, b, lam)
        assert torch.allclose(out[0], a[0]) and torch.allclose(out[2], b[0], atol=1e-6)
    assert slerp(a, b, lam)[1].norm().item() == pytest.approx(2.0)  # on the sphere
    assert lerp(a, b, lam)[1].norm().item() == pytest.approx(2**0.5)  # through the chord


def test_interpolation_frames_and_shared_noise(tiny):
    _, _, model, diffusion = tiny
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    res = interpolate(model, diffusion, x[:1], x[1:], t=5, steps_between=3, generator=g)
    assert res.images.shape == (5, 3, 16, 16) and res.masks.shape == (5, 3, 16, 16)
    assert torch.allclose(res.lambdas, torch.linspace(0, 1, 5))
    assert torch.allclose(res.masks.sum(1), torch.ones(5, 16, 16), atol=1e-4)
    # the same image at both ends: with noise shared across frames every frame is identical
    same = interpolate(model, diffusion, x[:1], x[:1], 5, 0, "slerp", generator=g)
    assert torch.allclose(same.images[0], same.images[-1], atol=1e-5)
    assert not torch.allclose(res.images[0], res.images[-1], atol=1e-2)
    with pytest.raises(FdiffError, match="t: 0: expected 1.."):
        interpolate(model, diffusion, x[:1], x[1:], 0, 2)


def test_cli_interpolate_and_figure(tiny, shapes16, tmp_path):
    cfg, dcfg, model, _ = tiny
    ckpt = tmp_path / "model.pt"
    save(model_state(cfg, dcfg, model.state_dict(), 0), ckpt)
    out = tmp_path / "interp.h5"
    argv = ["interpolate", "--model", str(ckpt), "--data", str(shapes16), "--index", "0", "5"]
    assert (
        main([*argv, "--t", "4", "--steps-between", "2", "--device", "cpu", "--out", str(out)]) == 0
    )
    with h5py.File(out) as f:
        assert f["images"].shape == (4, 16, 16, 3) and f["masks"].shape == (4, 16, 16)
        assert f["sources"].shape == (2, 16, 16, 3)
        assert f.attrs["t"] == 4 and f.attrs["num_regions"] == 3
        np.testing.assert_allclose(f["lambdas"][()], [0, 1 / 3, 2 / 3, 1], atol=1e-6)
    png = tmp_path / "interp.png"
    assert main(["figure", "interpolation", "--interp", str(out), "--out", str(png)]) == 0
    assert png.stat().st_size > 2000
    assert main([*argv[:-2], "0", "999", "--device", "cpu", "--out", str(out)]) == 2
