"""One preparer per real dataset; :func:`prepare` dispatches by name.

Each module documents its raw layout, split and mask rule; each returns a
:class:`~fdiff.data.sources.common.Plan` that :func:`~fdiff.data.sources.common.run_plan`
writes (ImageNet's downsampled npz form writes directly).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fdiff.data.sources import celebamask, cub, davis, ffhq, flowers, folder, imagenet, voc
from fdiff.data.sources.common import run_plan
from fdiff.errors import FdiffError

DATASETS = (
    "flowers",
    "cub",
    "ffhq",
    "celebamask",
    "imagenet",
    "pixel-imagenet",
    "voc",
    "davis",
    "folder",
)


@dataclass
class PrepareOptions:
    """Dataset-specific options of ``fdiff prepare`` (each ignored by the other datasets)."""

    workers: int = 0  # decoding processes (0: in this process)
    seed: int = 0  # pixel-imagenet subset, folder val/test split
    per_class: int = imagenet.PER_CLASS  # pixel-imagenet
    train_per_class: int = imagenet.TRAIN_PER_CLASS  # pixel-imagenet
    masks: Path | None = None  # folder
    val_fraction: float = 0.0  # folder
    test_fraction: float = 0.0  # folder
    skin_parts: tuple[str, ...] | None = None  # celebamask (None: PartMerge default)
    hair_parts: tuple[str, ...] | None = None  # celebamask
    splits: tuple[str, ...] | None = None  # celebamask: subset of train, val, test
    num_train: int = ffhq.NUM_TRAIN  # ffhq without its JSON
    npz_wnids: Path | None = None  # imagenet npz: wnid of each npz label (map_clsloc.txt)


def prepare(
    name: str, raw: str | Path, res: int, out: str | Path, opts: PrepareOptions | None = None
) -> dict[str, int]:
    """Turn the raw files of dataset ``name`` in ``raw`` into the HDF5 file ``out``."""
    opts = opts or PrepareOptions()
    raw = Path(raw)
    if res < 8:
        raise FdiffError(f"{res} px is too small (expected >= 8)", arg="res")
    if not raw.is_dir():
        raise FdiffError(f"{raw}: raw directory not found (run `fdiff download {name}` first)")
    if name == "flowers":
        p = flowers.plan(raw)
    elif name == "cub":
        p = cub.plan(raw)
    elif name == "ffhq":
        p = ffhq.plan(raw, res, num_train=opts.num_train)
    elif name == "celebamask":
        d = celebamask.PartMerge()
        merge = celebamask.PartMerge(opts.skin_parts or d.skin, opts.hair_parts or d.hair)
        p = celebamask.plan(raw, merge, opts.splits or ("train", "val", "test"))
    elif name == "imagenet":
        if not (raw / "train").is_dir() and imagenet.npz_files(raw)["train"]:
            return imagenet.prepare_npz(raw, res, Path(out), wnids_file=opts.npz_wnids)
        p = imagenet.plan(raw)
    elif name == "pixel-imagenet":
        p = imagenet.pixel_plan(
            raw, seed=opts.seed, per_class=opts.per_class, train_per_class=opts.train_per_class
        )
    elif name == "voc":
        p = voc.plan(raw)
    elif name == "davis":
        p = davis.plan(raw)
    elif name == "folder":
        p = folder.plan(raw, opts.masks, opts.val_fraction, opts.test_fraction, opts.seed)
    else:
        raise FdiffError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    return run_plan(p, res, out, workers=opts.workers)
