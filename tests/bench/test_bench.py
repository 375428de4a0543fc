"""Activation checkpointing and the ``fdiff bench`` smoke check."""

from __future__ import annotations

import pytest
import torch
import torch.utils.checkpoint

from fdiff.config import DiffusionConfig, model_config_from_dict
from fdiff.diffusion.gaussian import GaussianDiffusion
from fdiff.model.blocks import EmbedSequential, set_activation_checkpointing
from fdiff.model.build import build_model


@pytest.fixture(autouse=True)
def one_thread():
    """One CPU thread: tiny models on a shared machine run faster and steadier without OpenMP."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


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


def _run_bench_cli(argv):
    """``fdiff bench ARGV`` through the bench verb's own parser registration and handler."""
    import argparse

    from fdiff.cli import bench

    parser = argparse.ArgumentParser(prog="fdiff")
    bench.register(parser.add_subparsers(dest="verb"))
    args = parser.parse_args(["bench", *argv])
    return args.func(args)


def test_bench_quick_writes_csv(tmp_path, capsys):
    import csv
    import math

    from fdiff.bench.report import CSV_COLUMNS

    out = tmp_path / "bench.csv"
    argv = ["--quick", "--device", "cpu", "--variants", "ddpm", "shared", "--warmup", "0"]
    assert _run_bench_cli([*argv, "--steps", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "img/s" in printed and "GFLOP/img" in printed

    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert set(CSV_COLUMNS) <= set(rows[0])
    by = {(r["section"], r["name"]): r for r in rows}
    assert set(by) == {
        ("train", "ddpm"),
        ("train", "shared"),
        ("segment", "full_forward"),
        ("segment", "masks_only"),
        ("sample", "ddpm-1000"),
        ("sample", "ddim-10"),
        ("data", "loader"),
    }
    for r in rows:
        assert r["preset"] == "tiny" and r["device"] == "cpu"
        assert float(r["images_per_s"]) > 0 and math.isfinite(float(r["images_per_s"]))
        assert float(r["ms_per_step"]) > 0
    for key in [("train", "ddpm"), ("train", "shared"), ("segment", "masks_only")]:
        assert float(by[key]["gflop_per_image"]) > 0
    # the FLOP ratios are exact counts: factorized/shared is 3x the standard model's training
    # FLOPs at the tiny preset, the masks-only path one third of the full forward
    assert float(by["train", "ddpm"]["flop_ratio"]) == 1.0
    assert 2.5 < float(by["train", "shared"]["flop_ratio"]) < 3.5
    assert 0.2 < float(by["segment", "masks_only"]["flop_ratio"]) < 0.5
    # DDPM-1000 costs 100x the model calls of DDIM-10: images/s in that ratio up to noise
    ddpm, ddim = (float(by["sample", n]["images_per_s"]) for n in ("ddpm-1000", "ddim-10"))
    assert 10 < ddim / ddpm < 1000
    assert "extrapolated" in by["sample", "ddpm-1000"]["note"]


def test_find_max_batch_bisects():
    from fdiff.bench.max_batch import find_max_batch

    for largest in (0, 1, 7, 8, 9, 100, 1000, 4096):
        tried = []

        def fits(b, largest=largest, tried=tried):
            tried.append(b)
            return b <= largest

        assert find_max_batch(fits, start=8, limit=4096) == largest
        assert len(tried) <= 2 * 13  # doubling then bisection: logarithmic
    assert find_max_batch(lambda b: True, start=8, limit=100) == 100


def test_count_flops_train_is_three_forwards():
    from fdiff.model.summary import count_flops

    cfg = model_config_from_dict({"preset": "tiny", "arch": "factorized"})
    fwd = count_flops(cfg, "forward")
    assert count_flops(cfg, "forward", looped=True) == fwd  # same arithmetic, K calls
    assert 2.8 < count_flops(cfg, "train") / fwd < 3.2
    assert count_flops(cfg, "masks") < fwd
