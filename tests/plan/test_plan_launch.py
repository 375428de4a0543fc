"""How the train rule starts a run, for each launch shape."""

from __future__ import annotations

from fdiff.plan.launch import launcher


def _launch(nodes, gpus):
    return {"nodes": nodes, "gpus_per_node": gpus, "master_port": 29500}


def test_one_process_one_node_several_nodes():
    assert launcher(_launch(1, 0)) == launcher(_launch(1, 1)) == "fdiff"
    assert launcher(_launch(1, 4)) == (
        "torchrun --standalone --nnodes 1 --nproc_per_node 4 -m fdiff"
    )
    multi = launcher(_launch(4, 8))
    assert multi.startswith("srun --nodes 4 --ntasks 4 --ntasks-per-node 1 torchrun --nnodes 4")
    assert '--rdzv_id "$SLURM_JOB_ID"' in multi and multi.endswith(':29500" -m fdiff')
