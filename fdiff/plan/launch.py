"""How a training run is started: the command line in front of `train` for an experiment's
`launch` entry (docs/workflow.md, "Training launch")."""

from __future__ import annotations

from collections.abc import Mapping


def launcher(launch: Mapping) -> str:
    """`fdiff` (one process), torchrun on one node, or srun + torchrun with c10d rendezvous
    across the nodes of the allocation."""
    nodes, gpn = launch["nodes"], launch["gpus_per_node"]
    if nodes == 1 and gpn <= 1:
        return "fdiff"
    if nodes == 1:
        return f"torchrun --standalone --nnodes 1 --nproc_per_node {gpn} -m fdiff"
    # The job's shell runs once, on the first node (the train rule's `mpi` resource): one
    # torchrun per node; the rendezvous is at the first node's address (its NodeAddr). The
    # executor's job step strips SLURM_* but SLURM_JOB_ID: the node list comes from squeue.
    nodelist = 'squeue -h -j "$SLURM_JOB_ID" -o %N'
    first = f'scontrol show hostnames "$({nodelist})" | head -n 1'
    addr = f"scontrol show node \"$({first})\" -o | sed -E 's/.* NodeAddr=([^ ]+).*/\\1/'"
    return (
        f"srun --nodes {nodes} --ntasks {nodes} --ntasks-per-node 1 "
        f"torchrun --nnodes {nodes} --nproc_per_node {gpn} "
        f'--rdzv_id "$SLURM_JOB_ID" --rdzv_backend c10d '
        f'--rdzv_endpoint "$({addr}):{launch["master_port"]}" -m fdiff'
    )
