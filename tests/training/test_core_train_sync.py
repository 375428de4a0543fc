"""The training step waits for nothing: the non-finite skip is decided on the device, and the host
reads the device only at sync points (logging and checkpoint steps).

On the CPU a host read of a tensor is no device sync, but it is the same call that is one on
CUDA (``aten._local_scalar_dense``: ``.item()``, ``float()``, ``bool()`` of a tensor), so
counting those calls inside ``train_step`` shows where a GPU step would block. The fused Adam
used on CUDA runs on the CPU too, so the device path is tested here.
"""

from __future__ import annotations

import pytest
import torch

from fdiff.bench.gpu import HostReads
from fdiff.data.loader import H5ImageDataset
from fdiff.errors import FdiffError
from fdiff.training import nonfinite
from fdiff.training.trainer import Trainer


def _trainer(tmp_path, data, cfg, fused: bool) -> Trainer:
    trainer = Trainer.build(cfg, data, tmp_path / "run")
    if fused:  # what CUDA runs: the skip decided by the kernel, on the device
        trainer.state.opt = torch.optim.Adam(
            trainer.state.model.parameters(), lr=cfg.train.lr, fused=True
        )
    return trainer


@pytest.mark.parametrize("fused", [True, False])
def test_host_reads_only_at_sync_points(tmp_path, shapes16, tiny_run_config, monkeypatch, fused):
    cfg = tiny_run_config(steps=9, log_every=4, checkpoint_every=1000)
    trainer = _trainer(tmp_path, H5ImageDataset(shapes16, "train"), cfg, fused)
    in_step, syncs = [], []
    step = trainer.train_step

    def counted_step(x0, y):
        with HostReads() as reads:
            out = step(x0, y)
        in_step.append(reads.n)
        return out

    def counted_host_values(t):
        syncs.append(trainer.state.step)
        return t.tolist()

    trainer.train_step = counted_step
    monkeypatch.setattr(nonfinite, "host_values", counted_host_values)
    trainer.run()
    # the fused path reads nothing inside a step; the unfused one (CPU only) reads its skip flag
    # and each parameter's step count (CPU tensors there), which shows that the counter counts
    if fused:
        assert in_step == [0] * 9, in_step
    else:
        assert len(in_step) == 9 and min(in_step) > len(trainer.state.opt.param_groups[0]["params"])
    # the sync points: logging at 4 and 8, logging and the final checkpoint at 9 (whose state
    # reads the skip count once more)
    assert syncs == [4, 8, 9, 9], syncs


@pytest.mark.parametrize("fused", [True, False])
def test_a_non_finite_step_is_skipped(tmp_path, shapes16, tiny_run_config, fused):
    cfg = tiny_run_config(steps=6, log_every=3, checkpoint_every=1000, max_bad_steps=1)
    trainer = _trainer(tmp_path, H5ImageDataset(shapes16, "train"), cfg, fused)
    weights, ema = [], []
    step = trainer.train_step

    def poisoned_step(x0, y):
        out = step(x0 * float("nan") if trainer.state.step == 2 else x0, y)
        weights.append([p.detach().clone() for p in trainer.state.model.parameters()])
        ema.append([p.detach().clone() for p in trainer.state.ema.parameters()])
        return out

    trainer.train_step = poisoned_step
    trainer.run()
    same = [all(map(torch.equal, a, b)) for a, b in zip(weights, weights[1:], strict=False)]
    assert same == [False, True, False, False, False]  # step 2 changed nothing
    assert [all(map(torch.equal, a, b)) for a, b in zip(ema, ema[1:], strict=False)] == same
    assert all(torch.isfinite(p).all() for p in weights[-1] + ema[-1])
    assert trainer.state.bad_steps == 1
    adam_steps = {float(s["step"]) for s in trainer.state.opt.state_dict()["state"].values()}
    assert adam_steps == {5.0}  # the skipped step did not count in Adam's bias correction
    rows = (tmp_path / "run" / "metrics.csv").read_text().split()[1:]
    assert [r.split(",")[0] for r in rows] == ["3", "6"]
    assert all(float(r.split(",")[1]) > 0 for r in rows)  # the mean of the good steps


@pytest.mark.parametrize("fused", [True, False])
def test_too_many_non_finite_steps_stop_before_the_next_checkpoint(
    tmp_path, shapes16, tiny_run_config, fused
):
    cfg = tiny_run_config(steps=8, log_every=100, checkpoint_every=4, max_bad_steps=0)
    trainer = _trainer(tmp_path, H5ImageDataset(shapes16, "train"), cfg, fused)
    step = trainer.train_step
    trainer.train_step = lambda x0, y: step(x0 * float("nan") if trainer.state.step == 2 else x0, y)
    with pytest.raises(FdiffError, match=r"non-finite loss \(nan on rank 0\) at step 2 "):
        trainer.run()
    assert trainer.state.step == 4  # learnt at the sync point of step 4, before its checkpoint
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()
