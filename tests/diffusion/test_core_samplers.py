"""The samplers, segmentation and interpolation give bit-identical results to the loops they
replaced (issue 14 moved the noise math onto ``GaussianDiffusion``).

The ``_ref_*`` functions are the pre-refactor loops of fdiff/diffusion/samplers.py,
fdiff/inference/interpolate.py and the ``fdiff segment`` verb, kept here verbatim in what they
compute as the reference: same seed, one thread, ``torch.equal`` on every output.
"""

from __future__ import annotations

import pytest
import torch

from fdiff.config import DiffusionConfig, model_config_from_dict
from fdiff.diffusion.gaussian import GaussianDiffusion, extract
from fdiff.diffusion.samplers import ddim_sample, ddim_timesteps, ddpm_sample, ddpm_steps
from fdiff.model.build import build_model


def _ref_ddpm(model, diffusion, shape, y, generator, record):
    x = torch.randn(shape, generator=generator)
    masks, traj = None, []
    for i in range(diffusion.num_timesteps - 1, -1, -1):
        t = torch.full((shape[0],), i, dtype=torch.long)
        out = model(x, t, y)
        mean = diffusion.p_mean(x, t, out.eps.float())
        z = torch.randn(shape, generator=generator) if i > 0 else torch.zeros_like(x)
        x = mean + diffusion.p_sigma(t, x) * z
        masks = out.masks
        if record and (i + 1) in record:
            traj.append((i + 1, x.clone(), None if masks is None else masks.clone()))
    return x.clamp(-1, 1), masks, traj


def _ref_ddim(model, diffusion, shape, steps, eta, y, generator, record):
    x = torch.randn(shape, generator=generator)
    seq = ddim_timesteps(diffusion.num_timesteps, steps)
    masks, traj = None, []
    for j, i in enumerate(seq):
        t = torch.full((shape[0],), i, dtype=torch.long)
        out = model(x, t, y)
        eps = out.eps.float()
        x0 = diffusion.predict_x0(x, t, eps).clamp(-1, 1)
        eps = (x - extract(diffusion.sqrt_alphas_cumprod, t, x) * x0) / extract(
            diffusion.sqrt_one_minus_alphas_cumprod, t, x
        )
        abar = extract(diffusion.alphas_cumprod, t, x)
        if j + 1 < len(seq):
            abar_prev = extract(diffusion.alphas_cumprod, torch.full_like(t, seq[j + 1]), x)
        else:
            abar_prev = torch.ones_like(abar)
        sigma = eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)).sqrt()
        x = abar_prev.sqrt() * x0 + (1 - abar_prev - sigma**2).clamp(min=0).sqrt() * eps
        if eta > 0 and j + 1 < len(seq):
            x = x + sigma * torch.randn(shape, generator=generator)
        masks = out.masks
        if record and (i + 1) in record:
            traj.append((i + 1, x.clone(), None if masks is None else masks.clone()))
    return x.clamp(-1, 1), masks, traj


def _ref_segment_loop(model, diffusion, x0_all, t, batch_size, seed):
    """The ``fdiff segment`` loop: batches of the split, one generator across batches."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, len(x0_all), batch_size):
        x0 = x0_all[start : start + batch_size]
        idx = torch.full((x0.shape[0],), max(t - 1, 0), dtype=torch.long)
        x_t = x0
        if t > 0:
            noise = torch.randn(x0.shape, generator=g, dtype=x0.dtype)
            x_t = diffusion.q_sample(x0, idx, noise)
        out.append(model.predict_masks(x_t, idx, None).argmax(1).to(torch.uint8))
    return torch.cat(out).numpy()


def _ref_interpolate(model, diffusion, x0_a, x0_b, t, s, generator):
    lambdas = torch.linspace(0, 1, s)
    idx = torch.full((1,), t - 1, dtype=torch.long)
    eps = torch.randn(x0_a.shape, generator=generator, dtype=x0_a.dtype)
    xa, xb = diffusion.q_sample(x0_a, idx, eps), diffusion.q_sample(x0_b, idx, eps)
    lam = lambdas.reshape(-1, 1, 1, 1)
    x = (1 - lam) * xa + lam * xb
    masks = None
    for i in range(t - 1, -1, -1):
        ti = torch.full((s,), i, dtype=torch.long)
        out = model(x, ti, None)
        mean = diffusion.p_mean(x, ti, out.eps.float())
        if i > 0:
            z = torch.randn((1, *x.shape[1:]), generator=generator, dtype=x.dtype)
        else:
            z = torch.zeros_like(x[:1])
        x = mean + diffusion.p_sigma(ti, x) * z
        masks = out.masks
    return x.clamp(-1, 1), masks


@pytest.fixture(scope="module")
def tiny():
    """A tiny factorized model with random (not zero-initialised) weights and T = 12."""
    torch.manual_seed(0)
    model = build_model(model_config_from_dict({"preset": "tiny"})).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return model, GaussianDiffusion(DiffusionConfig(timesteps=12))


def _assert_same_trajectory(got, want):
    assert [t for t, _, _ in got] == [t for t, _, _ in want]
    for (_, x, m), (_, rx, rm) in zip(got, want, strict=True):
        assert torch.equal(x, rx) and torch.equal(m, rm)


def test_ddpm_is_bit_identical_to_the_reference(tiny):
    model, diffusion = tiny
    shape, record = (2, 3, 16, 16), {12, 5, 1}
    want = _ref_ddpm(model, diffusion, shape, None, torch.Generator().manual_seed(3), record)
    got = ddpm_sample(
        model, diffusion, shape, generator=torch.Generator().manual_seed(3), record=record,
        progress=False,
    )  # fmt: skip
    assert torch.equal(got.images, want[0]) and torch.equal(got.masks, want[1])
    _assert_same_trajectory(got.trajectory, want[2])
    assert not torch.equal(want[0], torch.zeros_like(want[0]))  # the model does something


@pytest.mark.parametrize("eta", [0.0, 0.7])
def test_ddim_is_bit_identical_to_the_reference(tiny, eta):
    model, diffusion = tiny
    shape, record = (2, 3, 16, 16), {12, 1}
    want = _ref_ddim(
        model, diffusion, shape, 4, eta, None, torch.Generator().manual_seed(4), record
    )
    got = ddim_sample(
        model, diffusion, shape, steps=4, eta=eta, generator=torch.Generator().manual_seed(4),
        record=record, progress=False,
    )  # fmt: skip
    assert torch.equal(got.images, want[0]) and torch.equal(got.masks, want[1])
    _assert_same_trajectory(got.trajectory, want[2])


def test_ddpm_steps_yield_every_step_in_order(tiny):
    model, diffusion = tiny
    steps = list(ddpm_steps(model, diffusion, (1, 3, 16, 16), progress=False))
    assert [s.t for s in steps] == list(range(12, 0, -1))
    assert all(s.masks.shape == (1, 3, 16, 16) for s in steps)


def test_segment_split_is_bit_identical_to_the_verb_loop(tiny, shapes16):
    from fdiff.data.loader import H5ImageDataset
    from fdiff.inference.segmentation import segment_split

    model, diffusion = tiny
    x0 = H5ImageDataset(shapes16, "test").get_batch(range(8))[0]
    want = _ref_segment_loop(model, diffusion, x0, t=5, batch_size=3, seed=7)
    got = segment_split(model, diffusion, shapes16, "test", 5, batch_size=3, seed=7).masks
    assert got.dtype == want.dtype and (got == want).all()


def test_interpolation_is_bit_identical_to_the_reference(tiny, shapes16):
    from fdiff.data.loader import H5ImageDataset
    from fdiff.inference.interpolate import interpolate

    model, diffusion = tiny
    x0 = H5ImageDataset(shapes16, "test").get_batch([0, 1])[0]
    rx, rm = _ref_interpolate(
        model, diffusion, x0[:1], x0[1:2], 6, 4, torch.Generator().manual_seed(2)
    )
    got = interpolate(
        model, diffusion, x0[:1], x0[1:2], 6, 2, generator=torch.Generator().manual_seed(2)
    )
    assert torch.equal(got.images, rx) and torch.equal(got.masks, rm)
