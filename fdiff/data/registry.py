"""Where every dataset comes from: URLs, checksums and sizes, in one typed place.

Facts from /work/shared/reference/datasets.md. A checksum is never invented: where none is
published (the CUB split file of ReDO, the DAVIS archive) the entry is ``None`` with a note,
the download warns, and the md5 actually received is recorded in the dataset file's
provenance. Sources behind a login or licence (ImageNet, the Google-Drive-only FFHQ,
CelebAMask-HQ and Pixel-ImageNet) have no URL: ``fdiff download`` then checks that the user
placed the files (``manual``) and otherwise fails with exactly what to put where.

Overrides (for mirrors and for tests):

- ``FDIFF_MIRROR`` (or ``--mirror URL``): every file is fetched from ``URL/<dataset>/<name>``;
- ``FDIFF_REGISTRY`` (or ``--registry FILE``): a JSON file
  ``{"<dataset>": {"<file name>": {"url": ..., "md5": ..., "sha256": ..., "size": ...}}}``
  whose entries replace the built-in fields.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from fdiff.errors import FdiffError
from fdiff.io import read_json_object

FLOWERS_URL = "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/"
REDO_RAW = "https://raw.githubusercontent.com/mickaelChen/ReDO/master/"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a dataset.

    ``url`` None: the file cannot be downloaded (login or licence); ``extract``: an archive
    unpacked into the destination after verification, which must yield the top-level entries
    in ``provides``; ``note`` documents a missing checksum or an unverified fact.
    """

    name: str
    url: str | None
    md5: str | None = None
    sha256: str | None = None
    size: int | None = None
    extract: bool = False
    provides: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class ManualPath:
    """A path (relative to the raw directory) that the user must place by hand.

    ``alternatives``: other paths that satisfy the same need (e.g. full-size images instead of
    thumbnails); ``what``: one line saying what it is and where to get it.
    """

    path: str
    what: str
    alternatives: tuple[str, ...] = ()
    optional: bool = False


@dataclass(frozen=True)
class DatasetSource:
    """A dataset's downloadable files and the paths a user must place by hand."""

    name: str
    homepage: str
    files: tuple[RemoteFile, ...] = ()
    manual: tuple[ManualPath, ...] = ()

    def file(self, name: str) -> RemoteFile:
        for f in self.files:
            if f.name == name:
                return f
        raise KeyError(name)


REGISTRY: dict[str, DatasetSource] = {
    "flowers": DatasetSource(
        "flowers",
        FLOWERS_URL,
        files=(
            RemoteFile(
                "102flowers.tgz",
                FLOWERS_URL + "102flowers.tgz",
                md5="52808999861908f626f3c1f4e79d11fa",
                extract=True,
                provides=("jpg",),
            ),
            RemoteFile(
                "102segmentations.tgz",
                FLOWERS_URL + "102segmentations.tgz",
                md5="51375996b6c4f367a4b9f4492d7ecef5",
                extract=True,
                provides=("segmim",),
                note="md5 from third-party code, not verified against the source",
            ),
            RemoteFile(
                "setid.mat", FLOWERS_URL + "setid.mat", md5="a5357ecc9cb78c4bef273ce3793fc85c"
            ),
            RemoteFile(
                "imagelabels.mat",
                FLOWERS_URL + "imagelabels.mat",
                md5="e0620be6f572b9609742df49c70aed4d",
            ),
        ),
    ),
    "cub": DatasetSource(
        "cub",
        "https://www.vision.caltech.edu/datasets/cub_200_2011/",
        files=(
            RemoteFile(
                "CUB_200_2011.tgz",
                "https://data.caltech.edu/records/65de6-vp158/files/CUB_200_2011.tgz",
                md5="97eceeb196236b17998738112f37df78",
                size=1_150_585_339,
                extract=True,
                provides=("CUB_200_2011",),
            ),
            RemoteFile(
                "segmentations.tgz",
                "https://data.caltech.edu/records/w9d68-gec53/files/segmentations.tgz",
                md5="4d47ba1228eae64f2fa547c47bc65255",
                size=39_272_883,
                extract=True,
                provides=("segmentations",),
            ),
            RemoteFile(
                "train_val_test_split.txt",
                REDO_RAW + "datasplits/cub/train_val_test_split.txt",
                md5=None,
                note=(
                    "ReDO publishes no checksum for its split file: the download warns and "
                    "records the md5 received; prepare checks its content (11,788 lines, "
                    "10,000 / 788 / 1,000 images with labels 0 / 1 / 2)"
                ),
            ),
        ),
    ),
    "ffhq": DatasetSource(
        "ffhq",
        "https://github.com/NVlabs/ffhq-dataset",
        manual=(
            ManualPath(
                "thumbnails128x128",
                "FFHQ thumbnails (70,000 PNGs in 1000-image folders 00000/ ... 69000/), from "
                "Google Drive via NVlabs/ffhq-dataset download_ffhq.py --thumbs",
                alternatives=("images1024x1024",),
            ),
            ManualPath(
                "ffhq-dataset-v2.json",
                "the FFHQ metadata JSON (per-file md5 and size; optional, used to verify files)",
                optional=True,
            ),
        ),
    ),
    "celebamask": DatasetSource(
        "celebamask",
        "https://github.com/switchablenorms/CelebAMask-HQ",
        manual=(
            ManualPath(
                "CelebAMask-HQ",
                "the unpacked CelebAMask-HQ.zip (Google Drive / Baidu): CelebA-HQ-img/, "
                "CelebAMask-HQ-mask-anno/ and CelebA-HQ-to-CelebA-mapping.txt",
                alternatives=("CelebAMask-HQ.zip",),
            ),
        ),
    ),
    "imagenet": DatasetSource(
        "imagenet",
        "https://image-net.org/download.php",
        manual=(
            ManualPath(
                "train",
                "ILSVRC-2012 train images, one folder per WordNet id (train/n01440764/*.JPEG); "
                "or the downsampled ImageNet 64x64 npz files (train_data_batch_1.npz ...) in "
                "the raw directory; ImageNet needs a licence from image-net.org",
                alternatives=("train_data_batch_1.npz", "Imagenet64_train_npz"),
            ),
            ManualPath(
                "val",
                "ILSVRC-2012 validation images in per-class folders (val/n01440764/*.JPEG) or "
                "val_data.npz",
                alternatives=("val_data.npz",),
                optional=True,
            ),
        ),
    ),
    "pixel-imagenet": DatasetSource(
        "pixel-imagenet",
        "https://github.com/shiyinzhang/Pixel-ImageNet",
        manual=(
            ManualPath(
                "masks",
                "Pixel-ImageNet masks (Google Drive, no published checksum) as masks/<wnid>/"
                "<image>.png, any non-zero pixel = foreground",
            ),
            ManualPath(
                "images",
                "the matching ImageNet train images as images/<wnid>/<image>.JPEG (a symlink to "
                "ILSVRC-2012 train/ works)",
            ),
        ),
    ),
    "voc": DatasetSource(
        "voc",
        "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/",
        files=(
            RemoteFile(
                "VOCtrainval_11-May-2012.tar",
                # The official host serves plain HTTP only (as used by torchvision); the md5
                # guards integrity.
                "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
                md5="6cd6e144f989b92b3379bac3b3de84fd",
                extract=True,
                provides=("VOCdevkit",),
            ),
        ),
    ),
    "davis": DatasetSource(
        "davis",
        "https://davischallenge.org/davis2017/code.html",
        files=(
            RemoteFile(
                "DAVIS-2017-trainval-480p.zip",
                "https://data.vision.ee.ethz.ch/csergi/share/davis/DAVIS-2017-trainval-480p.zip",
                md5=None,
                extract=True,
                provides=("DAVIS",),
                note="the DAVIS site publishes no checksum: the md5 received is recorded",
            ),
        ),
    ),
    "folder": DatasetSource(
        "folder",
        "",
        manual=(ManualPath(".", "a folder of your own images (and optionally masks)"),),
    ),
}


@dataclass
class Registry:
    """The registry with overrides applied, plus the mirror (if any)."""

    sources: dict[str, DatasetSource] = field(default_factory=lambda: dict(REGISTRY))
    mirror: str | None = None

    def source(self, name: str) -> DatasetSource:
        if name not in self.sources:
            raise FdiffError(
                f"unknown dataset {name!r}; expected one of {', '.join(sorted(self.sources))}"
            )
        return self.sources[name]

    def url(self, dataset: str, f: RemoteFile) -> str | None:
        """The URL to fetch ``f`` from: ``MIRROR/<dataset>/<name>`` when a mirror is set."""
        if self.mirror:
            return f"{self.mirror.rstrip('/')}/{dataset}/{f.name}"
        return f.url


# Images per split of each dataset as `fdiff prepare` writes it (docs/data.md), so that the
# workflow can size a job before the data exist (fdiff.plan.jobsize). Counts are the published
# ones; CelebAMask-HQ's are the commonly quoted CelebA partition counts and DAVIS's the
# frames of DAVIS-2017 trainval 480p (both not verified here); ImageNet's val split is used
# only where the npz or val folders are given. Pixel-ImageNet and the shapes are sized from
# their config (`per_class`, `train_per_class`, `num_*`).
SPLIT_IMAGES: dict[str, dict[str, int]] = {
    "flowers": {"train": 6_149, "val": 1_020, "test": 1_020},
    "cub": {"train": 10_000, "val": 788, "test": 1_000},
    "ffhq": {"train": 60_000, "val": 10_000},
    "celebamask": {"train": 24_183, "val": 2_993, "test": 2_824},
    "imagenet": {"train": 1_281_167, "val": 50_000},
    "voc": {"train": 1_464, "val": 1_449},
    "davis": {"train": 4_209, "val": 1_999},
}
PIXEL_IMAGENET_CLASSES = 946  # classes with masks (datasets.md: 0.485M images over 946)


_OVERRIDABLE = {"url", "md5", "sha256", "size"}


def load_registry(
    overrides: str | os.PathLike | None = None, mirror: str | None = None
) -> Registry:
    """The built-in registry with a JSON override file and a mirror applied.

    Defaults come from the environment: ``FDIFF_REGISTRY`` (override file) and
    ``FDIFF_MIRROR`` (base URL).
    """
    overrides = overrides or os.environ.get("FDIFF_REGISTRY") or None
    mirror = mirror or os.environ.get("FDIFF_MIRROR") or None
    reg = Registry(mirror=mirror)
    if overrides is None:
        return reg
    path = Path(overrides)
    data = read_json_object(
        path, "registry overrides, a JSON object {dataset: {file: {field: value}}}"
    )
    for ds_name, files in data.items():
        src = reg.source(ds_name)
        new_files = list(src.files)
        for fname, fields in files.items():
            bad = set(fields) - _OVERRIDABLE
            if bad:
                raise FdiffError(
                    f"{path}: {ds_name}/{fname}: cannot override {sorted(bad)}; "
                    f"expected keys among {sorted(_OVERRIDABLE)}"
                )
            try:
                i = [f.name for f in new_files].index(fname)
            except ValueError:
                raise FdiffError(
                    f"{path}: dataset {ds_name!r} has no file {fname!r}; "
                    f"expected one of {[f.name for f in src.files]}"
                ) from None
            new_files[i] = dataclasses.replace(new_files[i], **fields)
        reg.sources[ds_name] = dataclasses.replace(src, files=tuple(new_files))
    return reg
