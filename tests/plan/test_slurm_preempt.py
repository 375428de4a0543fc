"""The preemption mode check (fdiff.plan.slurm_preempt) on captured `scontrol show partition -o`."""

from __future__ import annotations

from pathlib import Path

from fdiff.plan.slurm_preempt import caution, parse_partitions, refusal

# `scontrol show partition -o` of the two-node fixture without preemption (tests/slurm/cluster.sh,
# SLURM 22.05), captured 2026-12-05.
PLAIN = (Path(__file__).parents[1] / "slurm" / "scontrol-partition-plain.txt").read_text()


def _with_mode(mode: str, partition: str = "gpu") -> str:
    lines = PLAIN.splitlines()
    return (
        "\n".join(
            line.replace("PreemptMode=OFF", f"PreemptMode={mode}")
            if line.startswith(f"PartitionName={partition} ")
            else line
            for line in lines
        )
        + "\nPartitionName=high Default=NO Nodes=n[1-2] PriorityTier=10 PreemptMode=OFF State=UP\n"
    )


def test_parse():
    parts = parse_partitions(PLAIN)
    assert sorted(parts) == ["cpu", "gpu"]
    assert parts["cpu"]["Default"] == "YES" and parts["gpu"]["PreemptMode"] == "OFF"
    assert parts["gpu"]["TRES"] == "cpu=4,mem=40978M,node=2,billing=4"


def test_cancel_is_refused_naming_partition_and_mode():
    msg = refusal(parse_partitions(_with_mode("CANCEL")), ["cpu", "gpu"])
    assert msg is not None and "\n" not in msg
    assert "'gpu' (PreemptMode=CANCEL)" in msg and "'cpu'" not in msg and "REQUEUE" in msg


def test_every_refused_partition_is_named():
    # a cluster-wide PreemptMode=CANCEL: every partition without its own mode shows it
    text = PLAIN.replace("PreemptMode=OFF", "PreemptMode=CANCEL")
    msg = refusal(parse_partitions(text), ["cpu", "gpu", "gpu"])
    assert "'cpu' (PreemptMode=CANCEL), 'gpu' (PreemptMode=CANCEL)" in msg


def test_supported_modes_and_other_partitions_pass():
    assert refusal(parse_partitions(PLAIN), ["cpu", "gpu"]) is None
    assert refusal(parse_partitions(_with_mode("REQUEUE")), ["cpu", "gpu"]) is None
    assert refusal(parse_partitions(_with_mode("GANG,REQUEUE")), ["gpu"]) is None
    # the CANCEL partition is not one the jobs go to
    assert refusal(parse_partitions(_with_mode("CANCEL")), ["cpu", "high"]) is None


def test_no_partition_named_means_the_default_one():
    text = _with_mode("CANCEL", partition="cpu")
    assert "'cpu'" in refusal(parse_partitions(text), [None])
    assert refusal(parse_partitions(_with_mode("CANCEL")), [None]) is None


def test_suspend_passes_with_a_caution_naming_it():
    parts = parse_partitions(_with_mode("SUSPEND,GANG"))
    assert refusal(parts, ["cpu", "gpu"]) is None
    note = caution(parts, ["cpu", "gpu"])
    assert note is not None and "\n" not in note
    assert "'gpu' (PreemptMode=SUSPEND)" in note and "'cpu'" not in note and "REQUEUE" in note
    assert caution(parse_partitions(_with_mode("REQUEUE")), ["gpu"]) is None
    assert caution(parts, ["cpu"]) is None
