"""Training: it learns, it resumes exactly, it stops cleanly, and the CLI verbs run end to end."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import torch

from fdiff.cli import main as fdiff_main
from fdiff.config import RunConfig
from fdiff.data.loader import H5ImageDataset, TensorImages
from fdiff.errors import FdiffError
from fdiff.training import checkpoint as ckpt
from fdiff.training.state import StepBatchSampler
from fdiff.training.trainer import EXIT_PREEMPTED, PREEMPTED_MARKER, Trainer


def fixed_eval_loss(trainer: Trainer, x0: torch.Tensor) -> float:
    g = torch.Generator().manual_seed(123)
    t = torch.arange(0, 1000, 1000 // 16)[:16].repeat(len(x0))[: 16 * len(x0)]
    x = x0.repeat_interleave(16, 0)
    noise = torch.randn(x.shape, generator=g)
    trainer.state.model.eval()
    with torch.no_grad():
        return trainer.state.diffusion.loss(trainer.state.model, x, t, noise).item()


def test_training_overfits_a_tiny_batch(tmp_path, tiny_run_config):
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    cfg = tiny_run_config(steps=150, batch_size=2, lr=2e-3, flip=False, checkpoint_every=1000)
    trainer = Trainer.build(cfg, TensorImages(x0), tmp_path / "run")
    before = fixed_eval_loss(trainer, x0)
    trainer.run()
    after = fixed_eval_loss(trainer, x0)
    assert before > 0.9  # zero-initialised eps head: the loss starts at E[eps^2] = 1
    assert after < before / 4, (before, after)


def test_stop_and_resume_equals_uninterrupted(tmp_path, shapes16, tiny_run_config):
    data = H5ImageDataset(shapes16, "train")
    full = Trainer.build(tiny_run_config(steps=6), data, tmp_path / "full")
    full.run()
    part = Trainer.build(tiny_run_config(steps=4), data, tmp_path / "part")
    part.run()
    resumed = Trainer.build(tiny_run_config(steps=6), data, tmp_path / "part")
    resumed.run()
    assert resumed.state.step == full.state.step == 6
    done, again = full.state.model.state_dict(), resumed.state.model.state_dict()
    for (name, a), b in zip(done.items(), again.values(), strict=True):
        assert torch.equal(a, b), name
    for a, b in zip(full.state.ema.parameters(), resumed.state.ema.parameters(), strict=True):
        assert torch.equal(a, b)
    rows = (tmp_path / "part" / "metrics.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["step", "2", "4", "6"]


def test_batches_are_a_function_of_the_step():
    a = StepBatchSampler(10, 4, 0, 8, seed=3)
    b = StepBatchSampler(10, 4, 5, 8, seed=3)
    assert list(a)[5:] == list(b)
    # every epoch is a permutation: 10 images, steps 0-4 cover positions 0..19 = two epochs
    flat = [i for batch in list(a)[:5] for i in batch]
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))
    # DDP ranks split the global batch without overlap
    r0 = StepBatchSampler(10, 4, 0, 8, 3, rank=0, world=2).batch(2)
    r1 = StepBatchSampler(10, 4, 0, 8, 3, rank=1, world=2).batch(2)
    assert sorted(r0 + r1) == sorted(a.batch(2))


def test_resume_refuses_another_architecture(tmp_path, shapes16, tiny_run_config):
    data = H5ImageDataset(shapes16, "train")
    Trainer.build(tiny_run_config(steps=3), data, tmp_path / "run").run()
    other = RunConfig.from_dict(
        {"model": {"preset": "tiny", "arch": "ddpm"}, "train": {"steps": 4}}
    )
    with pytest.raises(FdiffError, match="another model config"):
        Trainer.build(other, data, tmp_path / "run").run()


def test_non_finite_loss_stops_and_keeps_the_last_checkpoint(tmp_path, shapes16, tiny_run_config):
    data = H5ImageDataset(shapes16, "train")
    trainer = Trainer.build(tiny_run_config(steps=3), data, tmp_path / "run")
    trainer.run()
    saved = (tmp_path / "run" / "checkpoints" / "last.pt").read_bytes()
    trainer = Trainer.build(tiny_run_config(steps=6), data, tmp_path / "run")
    with torch.no_grad():
        trainer.state.model.decoder.head[-1].bias.fill_(float("nan"))
    trainer.resume = lambda: False  # keep the poisoned weights; start counting at 0
    with pytest.raises(FdiffError, match="non-finite loss .* at step 0"):
        trainer.run()
    assert (tmp_path / "run" / "checkpoints" / "last.pt").read_bytes() == saved


def test_checkpoints_are_weights_only(tmp_path):
    evil = tmp_path / "evil.pt"

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    with open(evil, "wb") as f:
        pickle.dump({"format": ckpt.MODEL_FORMAT, "x": Boom()}, f)
    with pytest.raises(FdiffError, match="not a weights-only checkpoint"):
        ckpt.load_model(evil)
    torch.save({"format": "something-else"}, tmp_path / "other.pt")
    with pytest.raises(FdiffError, match="expected a 'fdiff-model-1' file"):
        ckpt.load_model(tmp_path / "other.pt")


def test_cli_train_sample_segment(tmp_path, shapes16, tiny_run_config):
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(tiny_run_config(steps=4).to_yaml())
    run = tmp_path / "run"
    assert fdiff_main(["train", "--config", str(run_yaml), "--data", str(shapes16),
                       "--out", str(run)]) == 0  # fmt: skip
    model = run / "model.pt"
    assert model.is_file() and (run / "config.yaml").is_file()
    samples = tmp_path / "samples.h5"
    assert fdiff_main(["sample", "--model", str(model), "--num", "3", "--batch-size", "2",
                       "--sampler", "ddim", "--steps", "5", "--soft-masks",
                       "--out", str(samples)]) == 0  # fmt: skip
    with h5py.File(samples) as f:
        assert f["images"].shape == (3, 16, 16, 3) and f["images"].dtype == np.uint8
        assert f["masks"].shape == (3, 16, 16) and f["masks"][:].max() < 3
        assert f["soft_masks"].shape == (3, 3, 16, 16) and f["soft_masks"].dtype == np.float16
        assert f.attrs["sampler"] == "ddim" and f.attrs["steps"] == 5
    masks = tmp_path / "masks.h5"
    assert fdiff_main(["segment", "--model", str(model), "--data", str(shapes16),
                       "--split", "test", "--t", "30", "--out", str(masks)]) == 0  # fmt: skip
    with h5py.File(masks) as f:
        assert f["masks"].shape == (8, 16, 16) and f.attrs["t"] == 30
    # a model of another architecture is refused with one line naming the file
    other = tmp_path / "other.pt"
    obj = torch.load(model, weights_only=True)
    obj["model"]["num_regions"] = 4
    torch.save(obj, other)
    assert fdiff_main(["segment", "--model", str(other), "--data", str(shapes16),
                       "--out", str(tmp_path / "x.h5")]) == 2  # fmt: skip
    assert not (tmp_path / "x.h5").exists()


def test_sigterm_saves_a_checkpoint_and_exits_75(tmp_path, shapes16, tiny_run_config):
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(tiny_run_config(steps=100000, checkpoint_every=100000).to_yaml())
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "fdiff", "train", "--config", str(run_yaml),
         "--data", str(shapes16), "--out", str(run)],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 120
    while not (run / "metrics.csv").exists() and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_PREEMPTED, err
    state = ckpt.load(run / "checkpoints" / "last.pt", ckpt.TRAIN_FORMAT)
    assert state["step"] >= 2
    # the verdict the workflow reads: the step of the checkpoint saved on the signal
    assert int((run / PREEMPTED_MARKER).read_text()) == state["step"]
    assert not (run / "model.pt").exists()
    assert "SIGTERM" in err
