"""The non-finite skip in lockstep under a real process group (2 processes, gloo): a NaN loss on
one rank only makes both ranks skip that step, on the fused (device) path and the unfused one,
and both end with the same weights."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from fdiff.config import RunConfig
from fdiff.data.loader import H5ImageDataset
from fdiff.training.trainer import Trainer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, port: int, data: str, out: str, fused: bool, results) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE="2",
                      RANK=str(rank), LOCAL_RANK=str(rank))  # fmt: skip
    torch.set_num_threads(1)
    cfg = RunConfig.from_dict({
        "model": {"preset": "tiny"},
        "train": {"steps": 6, "batch_size": 4, "log_every": 3, "checkpoint_every": 1000,
                  "max_bad_steps": 1, "seed": 1},
    })  # fmt: skip
    trainer = Trainer.build(cfg, H5ImageDataset(data, "train"), out)
    if fused:
        trainer.state.opt = torch.optim.Adam(
            trainer.state.model.parameters(), lr=cfg.train.lr, fused=True
        )
    step, weights = trainer.train_step, []

    def poisoned(x0, y):  # rank 1 alone sees a NaN at step 2
        loss = step(x0 * float("nan") if rank == 1 and trainer.state.step == 2 else x0, y)
        weights.append([p.detach().clone() for p in trainer.state.model.parameters()])
        return loss

    trainer.train_step = poisoned
    trainer.run()
    same = [all(map(torch.equal, a, b)) for a, b in zip(weights, weights[1:], strict=False)]
    results.put((rank, same, trainer.state.bad_steps, [w.sum().item() for w in weights[-1]]))
    torch.distributed.destroy_process_group()


@pytest.mark.slow
@pytest.mark.parametrize("fused", [True, False])
def test_a_nan_on_one_rank_is_skipped_by_both(tmp_path, shapes16, fused):
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    port = _free_port()
    procs = [ctx.Process(target=_rank, args=(r, port, str(shapes16), str(tmp_path / "run"), fused,
                                             results)) for r in (0, 1)]  # fmt: skip
    for p in procs:
        p.start()
    got = dict((r, rest) for r, *rest in (results.get(timeout=300) for _ in procs))
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for rank in (0, 1):
        same, bad, _ = got[rank]
        assert same == [False, True, False, False, False], (rank, same)  # step 2: no update
        assert bad == 1
    assert got[0][2] == got[1][2]  # the same weights on both ranks
