"""The Snakemake workflow, run for real: the paper plan (dry run), a reduced demo (local run),
no-op reruns and a config change that reruns only one ablation's chain."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from snakerun import DEMO_ARGS, job_stats, snakemake
from upgrade import MODEL_RULES, planned_jobs, upgraded_copy

REPO = Path(__file__).resolve().parents[2]
SMALL = Path(__file__).with_name("demo_small.yaml")

pytestmark = pytest.mark.workflow

if shutil.which("snakemake") is None:  # pragma: no cover
    pytest.skip("snakemake is not installed (pip install -e '.[test]')", allow_module_level=True)


def jobs(out: str) -> list[dict[str, str]]:
    """Every job block of `snakemake -n -p`: rule, wildcards, resources, shell."""
    found = []
    for block in re.split(r"\n(?=\[[^\]]+\]\n(?:local)?rule )", out):
        m = re.search(r"^(?:local)?rule (\w+):", block, re.M)
        if not m:
            continue
        job = {"rule": m.group(1), "text": block}
        for key in ("output", "wildcards", "resources"):
            km = re.search(rf"^\s+{key}: (.*)$", block, re.M)
            job[key] = km.group(1) if km else ""
        found.append(job)
    return found


# --- the paper plan --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paper_plan() -> str:
    r = snakemake("-n", "-p", "--workflow-profile", "none", "--cores", "1", "all", timeout=120)
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-3000:]
    return r.stdout + r.stderr


def test_paper_plan_has_every_experiment(paper_plan):
    counts = job_stats(paper_plan)
    # 7 experiments x (factorized, ddpm) + the 3 ablations on CUB-128 + the hierarchical model.
    assert counts["train"] == 18
    assert counts["run_config"] == 18
    # flowers, cub, ffhq, celebamask, imagenet, pixelimagenet, voc, davis
    assert counts["download"] == 8
    assert counts["table"] == 7
    assert counts["fid"] == 18 and counts["sample"] == 18
    assert counts["train_supervised"] >= 5
    assert counts["baseline_grabcut"] >= 4 and counts["baseline_kmeans"] >= 4
    trains = {j["output"] for j in jobs(paper_plan) if j["rule"] == "train"}
    for ds in ("flowers", "cub", "ffhq"):
        for res in (64, 128):
            for arch in ("factorized", "ddpm"):
                assert f"results/{ds}-{res}/{arch}/model.pt" in trains
    for arch in ("factorized", "ddpm", "concat", "mask_hmid", "unshared"):
        assert f"results/cub-128/{arch}/model.pt" in trains
    assert "results/imagenet-64/factorized/model.pt" in trains
    # CelebAMask-HQ is an evaluation of the FFHQ models, never trained on.
    assert not any("celebamask" in t for t in trains)
    segs = [j["output"] for j in jobs(paper_plan) if j["rule"] == "segment"]
    assert "results/ffhq-128/factorized/seg/celebamask-test.h5" in segs
    assert "results/imagenet-64/factorized/seg/voc-val.h5" in segs


def test_paper_plan_gpu_resources_and_launch(paper_plan):
    by_out = {j["output"]: j for j in jobs(paper_plan) if j["rule"] == "train"}
    small = by_out["results/cub-64/factorized/model.pt"]
    assert re.search(r"\bgpu=8\b", small["resources"])
    assert re.search(r"\bnodes=1\b", small["resources"])
    assert "torchrun --standalone --nnodes 1 --nproc_per_node 8 -m fdiff train" in small["text"]
    big = by_out["results/cub-128/unshared/model.pt"]
    # several nodes: GPUs per node (gres, as many as torchrun starts ranks on each), not per job
    assert re.search(r"\bgres=gpu:8\b", big["resources"])
    assert not re.search(r"\bgpu=", big["resources"])
    assert re.search(r"\bnodes=4\b", big["resources"])
    assert "srun --nodes 4 --ntasks 4 --ntasks-per-node 1 torchrun" in big["text"]
    assert "--nnodes 4 --nproc_per_node 8" in big["text"]
    # the executor's job step runs the shell once, on the first node (plugin 2.8.0's mpi jobs)
    assert re.search(r"\bmpi=srun\b", big["resources"]) and "tasks_per_gpu=0" in big["resources"]
    assert re.search(r"\btasks=4\b", big["resources"])
    assert not re.search(r"\bmpi=", small["resources"])
    assert "--rdzv_backend c10d" in big["text"]
    assert re.search(r"\bruntime=\d+", big["resources"]) and "cpus_per_gpu=8" in big["resources"]
    imnet = by_out["results/imagenet-64/factorized/model.pt"]
    assert re.search(r"\bgres=gpu:8\b", imnet["resources"])
    for j in jobs(paper_plan):
        if j["rule"] in ("sample_shard", "segment", "fid", "consistency"):
            assert re.search(r"\bgpu=1\b", j["resources"]), j["text"][:500]
    # Every job writes a log; every GPU job a benchmark.
    for j in jobs(paper_plan):
        if j["rule"] not in ("all",):
            assert "log:" in j["text"], j["rule"]
        if j["rule"] in ("train", "sample_shard", "segment", "fid", "tsweep", "consistency"):
            assert "benchmark:" in j["text"], j["rule"]


def test_table7_reads_the_per_class_scores_of_voc(paper_plan):
    by_rule = {}
    for j in jobs(paper_plan):
        by_rule.setdefault(j["rule"], []).append(j)
    (per_class,) = [j for j in by_rule["score"] if j["output"].endswith("-classes.csv")]
    assert per_class["output"].endswith("imagenet-64/factorized/seg/voc-per_image-classes.csv")
    assert "--multiclass" in per_class["text"] and "--per-class" in per_class["text"]
    (table7,) = [j for j in by_rule["table"] if j["wildcards"] == "n=7"]
    assert (
        "--input factorized=results/imagenet-64/factorized/seg/voc-per_image-classes.csv"
        in (table7["text"])
    )
    # The class-conditional model segments VOC under the class mapped from each image's mask.
    (voc,) = [j for j in by_rule["segment"] if j["output"].endswith("seg/voc-val.h5")]
    assert "--condition voc-masks" in voc["text"]


def test_paper_plan_fits_pixel_imagenet_on_its_train_split(paper_plan):
    by_rule = {}
    for j in jobs(paper_plan):
        by_rule.setdefault(j["rule"], []).append(j)
    segs = {j["output"] for j in by_rule["segment"]}
    # the fixed protocol fits on train (Table 4's fixed rows)
    assert "results/imagenet-64/factorized/seg/pixelimagenet-train.h5" in segs
    kmeans = {j["output"] for j in by_rule["baseline_kmeans"]}
    assert "results/imagenet-64/ddpm/seg/pixelimagenet-kmeans-test.h5" in kmeans
    sup = {j["output"] for j in by_rule["train_supervised"]}
    assert "results/supervised/pixelimagenet-64/model.pt" in sup


def test_paper_plan_figures_and_ema(paper_plan):
    by_rule = {}
    for j in jobs(paper_plan):
        by_rule.setdefault(j["rule"], []).append(j)
    (imnet,) = [j for j in by_rule["sample_figure"] if "imagenet-64" in j["output"]]
    assert "--classes 130 346 569 817" in imnet["text"]  # appendix Fig. 21's classes
    (grid,) = [j for j in by_rule["figure_samples"] if "class-grid" in j["output"]]
    assert "--classes 130 346 569 817" in grid["text"]
    (davis,) = [j for j in by_rule["segment"] if "davis" in j["output"]]
    assert (
        "imagenet-64/factorized" in davis["output"] and "--condition davis-names" in davis["text"]
    )
    assert any(
        "segmentation-imagenet-64-davis.png" in j["output"] for j in by_rule["figure_segmentation"]
    )
    (real,) = by_rule["figure_real_segmentation"]
    assert "ffhq-128/factorized/seg/ffhq-val.h5" in real["text"]
    (hier,) = by_rule["figure_hierarchy"]
    assert (
        "flowers-64/hierarchical/samples-figure.h5" in hier["text"]
        and "--sub-regions 2" in hier["text"]
    )
    runs = [j for j in by_rule["run_config"] if "flowers-64/hierarchical" in j["output"]]
    assert runs and '"sub_regions": 2' in runs[0]["text"]
    for j in by_rule["run_config"]:  # the paper's EMA: 0.9999 from the first step
        assert '"ema_warmup": false' in j["text"] and '"ema_rate": 0.9999' in j["text"], j["text"]


def test_demo_tables_get_the_prior_baselines(tmp_path):
    cfg = (REPO / "config/demo.yaml").read_text().replace("results/demo", str(tmp_path / "r"))
    (tmp_path / "demo.yaml").write_text(cfg)
    target = f"{tmp_path}/r/tables/table1.csv"  # before --configfile, which takes several
    r = snakemake("-n", "-p", "--cores", "1", target, "--configfile", str(tmp_path / "demo.yaml"))
    assert r.returncode == 0, r.stderr[-3000:]
    out = r.stdout + r.stderr
    assert job_stats(out)["baseline_prior"] == 6  # 3 priors x (test, val: the fixed fit)
    (table,) = [j for j in jobs(out) if j["rule"] == "table"]
    for prior in ("disc", "all_foreground", "kmeans_rgb"):
        for protocol in ("per_image", "fixed"):
            assert (
                f"--input {prior}={tmp_path}/r/baselines/shapes-16/{prior}-{protocol}.csv"
                in (table["text"])
            )
    kinds = {j["output"].rsplit("/", 1)[1]: j["text"] for j in jobs(out)}
    assert "--kind all-foreground" in kinds["all_foreground-val.h5"]


def test_named_targets_dry_run():
    # one dry run for the targets that only need to resolve (each plan of the paper costs
    # seconds); the ablations alone, whose jobs are counted
    r = snakemake("-n", "--workflow-profile", "none", "--cores", "1", "table6", "figures", "cub",
                  "ffhq", timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    r = snakemake("-n", "--workflow-profile", "none", "--cores", "1", "ablations", timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    counts = job_stats(r.stdout + r.stderr)
    assert counts["train"] == 4  # concat, mask_hmid, unshared + factorized (Table 6's own row)
    assert counts["table"] == 1


def test_lint_and_format():
    r = snakemake("--lint", timeout=120)
    assert r.returncode == 0 and "Lints for" not in r.stdout + r.stderr, r.stdout[-3000:]
    if shutil.which("snakefmt"):
        files = ["Snakefile", *map(str, sorted((REPO / "workflow/rules").glob("*.smk")))]
        r = subprocess.run(
            ["snakefmt", "--check", *files], cwd=REPO, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr


def test_config_typo_fails_at_parse_time(tmp_path):
    cfg = (SMALL.read_text().replace("RESULTS", str(tmp_path / "r"))).replace(
        "checkpoint_every: 2", "checkpoint_evry: 2"
    )
    (tmp_path / "bad.yaml").write_text(cfg)
    r = snakemake("-n", "all", "--configfile", str(tmp_path / "bad.yaml"), timeout=120)
    assert r.returncode != 0
    assert "checkpoint_evry" in r.stderr + r.stdout


# --- a real run of the reduced demo -----------------------------------------------------------


def test_demo_small_runs_reruns_nothing_and_reruns_one_ablation(tmp_path, factorized_file):
    from fdiff.training.checkpoint import file_sha256

    results = tmp_path / "r"
    cfg = tmp_path / "demo_small.yaml"
    # a shipped model (key `pretrained`), installed and evaluated beside the trained one
    shipped = (
        f"    pretrained: {{file: {factorized_file}, sha256: {file_sha256(factorized_file)}}}\n"
    )
    text = SMALL.read_text().replace("RESULTS", str(results))
    cfg.write_text(text.replace("    res: 16\n", "    res: 16\n" + shipped))
    r = snakemake(*DEMO_ARGS, "--configfile", str(cfg), timeout=900)  # as the README runs the demo
    assert r.returncode == 0, r.stderr[-4000:]

    run = results / "shapes-16"
    for arch in ("factorized", "ddpm", "concat"):
        assert (run / arch / "model.pt").stat().st_size > 0
        assert (run / arch / "checkpoints" / "last.pt").exists()  # kept: a rerun resumes
        assert (results / "logs" / "train" / f"shapes-16-{arch}.log").exists()
        assert (results / "benchmarks" / "train" / f"shapes-16-{arch}.tsv").exists()
    import pandas as pd

    for arch in ("factorized", "concat", "pretrained"):
        for protocol in ("per_image", "fixed"):
            df = pd.read_csv(run / arch / "seg" / f"shapes-{protocol}.csv")
            assert len(df) == 1 and 0.0 <= float(df["iou"][0]) <= 1.0
    assert (run / "pretrained" / "model.pt").read_bytes() == factorized_file.read_bytes()
    assert not (run / "pretrained" / "fid.json").exists()  # installed, never trained or sampled
    table1 = pd.read_csv(results / "tables" / "table1.csv")
    shipped_rows = table1[table1.iloc[:, 0].astype(str).str.startswith("Ours, shipped")]
    assert len(shipped_rows) == 2, table1  # one per protocol
    for col in ("Acc.", "IoU", "DICE"):  # numbers, not "-" (to_numeric raises on "-")
        assert pd.to_numeric(shipped_rows[col]).between(0, 100).all(), shipped_rows
    assert (results / "baselines" / "shapes-16" / "grabcut-per_image.csv").exists()
    for n in range(1, 8):
        assert (results / "tables" / f"table{n}.csv").exists()
        assert (results / "tables" / f"table{n}.tex").exists()
    for name in ("segmentation-shapes-16-shapes", "generation-shapes-16", "tsweep-shapes-16-shapes",
                 "interpolation-shapes-16", "loss-curves"):  # fmt: skip
        assert (results / "figures" / f"{name}.png").stat().st_size > 0
    # where every run stood (fdiff status, a report item); training's log has lines, no redraws
    status = (results / "status.txt").read_text()
    for arch in ("factorized", "ddpm", "concat"):
        row = rf"shapes-16 +{arch} +done +3/3 .* complete step=done +yes"
        assert re.search(row, status), status
    assert "\r" not in (results / "logs" / "train" / "shapes-16-factorized.log").read_text()

    # The report bundles every table and figure with its caption.
    report = tmp_path / "report.zip"
    r = snakemake("all", "--report", str(report), "--configfile", str(cfg), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    import zipfile

    names = {n.rsplit("/", 1)[-1] for n in zipfile.ZipFile(report).namelist()}
    assert {f"table{n}.csv" for n in range(1, 8)} <= names
    assert {"segmentation-shapes-16-shapes.png", "loss-curves.png", "status.txt"} <= names

    # Rerunning after it finished does nothing.
    r = snakemake("-n", "all", "--configfile", str(cfg), timeout=120)
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr, r.stdout[-2000:]

    # Nor after a text-only upgrade: every rule's command text changed (the workflow profile's
    # rerun triggers, docs/workflow.md "What reruns a job").
    snakefile, changed = upgraded_copy(tmp_path / "upgraded")
    assert changed >= 30
    r = snakemake("-n", "all", "--snakefile", str(snakefile), "--configfile", str(cfg), timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert not {rule for rule, _ in planned_jobs(r.stdout)} & MODEL_RULES, r.stdout[-3000:]
    assert "Nothing to be done" in r.stdout + r.stderr, r.stdout[-2000:]

    # Changing one ablation's config reruns that chain only (and the tables that read it).
    mtimes = {a: (run / a / "model.pt").stat().st_mtime_ns for a in ("factorized", "ddpm")}
    cfg.write_text(
        cfg.read_text().replace(
            "ablations: [concat]",
            "ablations: [concat]\n    arch_overrides: {concat: {train: {lr: 3.0e-4}}}",
        )
    )
    r = snakemake("-n", "all", "--configfile", str(cfg), timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    planned = jobs(r.stdout)
    trained = [j["wildcards"] for j in planned if j["rule"] == "train"]
    assert trained == ["dataset=shapes, res=16, arch=concat"], trained
    for j in planned:
        if j["rule"] in ("segment", "sample", "sample_figure", "tsweep", "run_config"):
            assert "arch=concat" in j["wildcards"], j["text"][:400]
        if j["rule"] == "score":  # its wildcard is the scored file's prefix
            assert "scored=shapes-16/concat/" in j["wildcards"], j["text"][:400]
    r = snakemake("all", "--cores", "2", "--configfile", str(cfg), timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    for a, t in mtimes.items():
        assert (run / a / "model.pt").stat().st_mtime_ns == t  # untouched
    log = (results / "logs" / "train" / "shapes-16-concat.log").read_text()
    assert (
        "3.0e-4" in (run / "concat" / "run.yaml").read_text()
        or "0.0003" in (run / "concat" / "run.yaml").read_text()
    )
    assert "train: attempt 1" in log
    r = snakemake("-n", "all", "--configfile", str(cfg), timeout=120)
    assert "Nothing to be done" in r.stdout + r.stderr

    # A finished training asked for again (its model.pt deleted) gets model.pt back from its
    # final checkpoint: nothing is trained, the weights are those it had.
    from fdiff.training import checkpoint as ckpt

    trained = ckpt.load(run / "ddpm" / "model.pt", ckpt.MODEL_FORMAT)
    (run / "ddpm" / "model.pt").unlink()
    r = snakemake("-n", "all", "--configfile", str(cfg), timeout=120)
    planned = planned_jobs(r.stdout)
    assert [wc for rule, wc in planned if rule == "train"] == [
        "dataset=shapes, res=16, arch=ddpm"
    ], r.stdout[-3000:]
    for rule, wc in planned:
        assert rule not in MODEL_RULES or "arch=ddpm" in wc, (rule, wc)
    r = snakemake("all", "--cores", "2", "--configfile", str(cfg), timeout=600)
    assert r.returncode == 0, r.stderr[-4000:]
    log = (results / "logs" / "train" / "shapes-16-ddpm.log").read_text()
    assert "reinstated model.pt from the final checkpoint (step 3)" in log, log[-2000:]
    again = ckpt.load(run / "ddpm" / "model.pt", ckpt.MODEL_FORMAT)
    assert again["step"] == trained["step"] == 3
    assert all(v.equal(again["state_dict"][k]) for k, v in trained["state_dict"].items())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))
