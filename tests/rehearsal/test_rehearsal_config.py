"""The rehearsal config (fdiff.plan.rehearsal): config/config.yaml with only its sizes shrunk, and a
dry run of it that plans every rule of the paper plan (seconds; the real run is
test_rehearsal.py)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from fdiff.plan.rehearsal import load_paper_config, main, rehearsal_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def configs():
    paper = load_paper_config(REPO)
    return paper, rehearsal_config(paper, "/tmp/r/results", "/tmp/r/raw", "wheel.whl")


def test_only_sizes_shrink(configs):
    paper, small = configs
    assert len(small["experiments"]) == len(paper["experiments"])
    shapes: set[tuple[int, int]] = set()
    for (name, p), (new, s) in zip(paper["experiments"].items(), small["experiments"].items(),
                                   strict=True):  # fmt: skip
        assert new == f"{p['dataset']}-{s['res']}" and s["res"] < p["res"], name
        for key in ("dataset", "archs", "ablations", "evaluations", "consistency", "fid"):
            assert s[key] == p[key], (name, key)
        assert s["model"]["preset"] == "tiny"
        for key in ("num_regions", "num_classes"):
            assert s["model"].get(key) == p["model"].get(key)
        assert s["train"]["steps"] < p["train"]["steps"]
        assert (
            s["train"]["lr"] == p["train"]["lr"]
            and s["train"]["ema_rate"] == p["train"]["ema_rate"]
        )
        # torchrun (2 CPU processes, one node) for the first experiment of each multi-GPU
        # launch shape of the paper; one process for every other one
        shape = (p["launch"]["nodes"], p["launch"]["gpus_per_node"])
        multi = shape[0] > 1 or shape[1] > 1
        first = multi and shape not in shapes
        if multi:
            shapes.add(shape)
        assert s["launch"]["gpus_per_node"] == (2 if first else 0), name
        assert s["launch"]["nodes"] == 1
        # several shards per sample set, on batch boundaries
        assert s["sample"]["num"] // s["sample"]["shard_size"] >= 2
        assert s["sample"]["shard_size"] % s["sample"]["batch_size"] == 0
        assert s["sample"]["sampler"] == p["sample"]["sampler"]
        t = s["diffusion"]["timesteps"]
        assert 0 < s["segment"]["t"] < t and max(s["figure_samples"]["trajectory"]) <= t
    torchrun = [e for e in small["experiments"].values() if e["launch"]["gpus_per_node"] == 2]
    assert len(torchrun) == len(shapes) >= 1  # a real torchrun job in the rehearsal
    # the two resolutions stay distinct, and so do the experiments' names
    assert len({e["res"] for e in small["experiments"].values()}) == len(
        {e["res"] for e in paper["experiments"].values()}
    )
    assert {k: v["experiment"] is None for k, v in small["tables"].items()} == {
        k: v["experiment"] is None for k, v in paper["tables"].items()
    }
    for name, ds in paper["datasets"].items():
        assert small["datasets"][name]["source"] == ds["source"]
        assert small["datasets"][name].get("kind") == ds.get("kind")
        for key in ("per_class", "train_per_class"):
            assert small["datasets"][name].get(key, 0) <= ds.get(key, 0)


def test_cli_writes_a_valid_config(tmp_path):
    out = tmp_path / "r.yaml"
    args = ["--out", str(out), "--results", str(tmp_path / "r"), "--raw", "raw"]
    assert main([*args, "--workflow", str(REPO)]) == 0
    from snakemake.utils import validate

    cfg = yaml.safe_load(out.read_text())
    validate(cfg, str(REPO / "workflow/schemas/config.schema.yaml"))
    assert cfg["results"] == str(tmp_path / "r")


@pytest.mark.workflow
@pytest.mark.skipif(shutil.which("snakemake") is None, reason="snakemake is not installed")
def test_cli_outside_a_checkout_says_so(tmp_path, monkeypatch, capsys):
    """The rehearsal reads the checkout's config, not the package's directory (an installed
    fdiff has none): run elsewhere without --workflow, it refuses in one line."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["--out", str(tmp_path / "x.yaml"), "--results", "r", "--raw", "raw"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "config/config.yaml: not found; expected a workflow checkout" in err
    assert not (tmp_path / "x.yaml").exists()


def test_rehearsal_plans_every_rule_of_the_paper_plan(tmp_path):
    from snakerun import without_slurm
    from test_rehearsal import job_stats

    out = tmp_path / "r.yaml"
    main(["--out", str(out), "--results", str(tmp_path / "r"), "--raw", str(tmp_path / "raw"),
          "--workflow", str(REPO)])  # fmt: skip

    def plan(*args):
        cmd = ["snakemake", "-n", "--workflow-profile", "none", "--cores", "2", "all", *args]
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300,
                           env=without_slurm())  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        return job_stats(r.stdout + r.stderr)

    paper, small = plan(), plan("--configfile", str(out))
    assert set(small) == set(paper)
    for rule in ("train", "run_config", "prepare", "download", "table", "fid", "sample"):
        assert small[rule] == paper[rule], rule
    assert small["sample_shard"] == 2 * small["sample"] < paper["sample_shard"]
