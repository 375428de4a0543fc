"""The layout of the paper's Tables 1-7 (:data:`SPECS`: rows, metrics, columns), the finished
:class:`Table` and the display conventions (units, decimals, LaTeX escaping) shared by the
builders (:mod:`fdiff.report.tables`), the notes (:mod:`fdiff.report.notes`) and the renderer
(:mod:`fdiff.report.render`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fdiff.data.voc_classes import CLASSES as VOC_LABELS
from fdiff.report.results import HIGHER_IS_BETTER, SEG_METRICS

if TYPE_CHECKING:  # pandas is imported where a table is built: the layout is read without it
    import pandas as pd

QUOTED = "__quoted__"  # where a table's quoted rows go
ALIASES = {"ours": "factorized", "all-foreground": "all_foreground", "kmeans-rgb": "kmeans_rgb"}

METRIC_HEADERS = {
    "acc": "Acc.",
    "iou": "IoU",
    "dice": "DICE",
    "miou": "mIoU",
    "fid": "FID",
    "kid": "KID",
    "consistency": "Acc.",
}
DATASET_NAMES = {
    "flowers": "Flower",
    "cub": "CUB",
    "ffhq": "FFHQ",
    "celebamask": "CelebA",
    "imagenet": "ImageNet",
    "pixel-imagenet": "ImageNet",
    "voc": "VOC",
    "shapes": "Shapes",
}
PAPER_EXPERIMENTS = (
    "flowers-64",
    "flowers-128",
    "cub-64",
    "cub-128",
    "ffhq-64",
    "ffhq-128",
    "imagenet-64",
)
VOC_CLASSES = VOC_LABELS[1:]  # Table 7 columns: every class but background


@dataclass(frozen=True)
class RowSpec:
    """A computed row: its input key, its plain label and its LaTeX label."""

    key: str
    label: str
    latex: str | None = None
    optional: bool = False  # left out of the table when no file feeds it


@dataclass(frozen=True)
class TableSpec:
    """The layout of one of the paper's tables."""

    number: int
    title: str  # the paper's caption without "on DATASET." (Table 5: the whole caption)
    paper_dataset: str | None  # dataset of the paper's table (quoted rows are about it)
    rows: tuple[RowSpec, ...]
    metrics: tuple[str, ...]  # columns (Tables 1-4, 6) or row groups (Tables 5, 7)
    columns: tuple[str, ...] = ()  # Tables 5 and 7: the fixed columns


_GRABCUT = RowSpec("grabcut", "GrabCut")
_SUPERVISED = RowSpec("supervised", "Supervised UNet")
_KMEANS = RowSpec("kmeans", "DatasetDDPM-unsup")
_OURS = RowSpec("factorized", "Ours")
# A shipped or released model evaluated beside the run's own (config key `pretrained`).
_SHIPPED = RowSpec("pretrained", "Ours, shipped checkpoint", optional=True)
# The trivial and colour baselines (fdiff.baselines.priors): shown only when computed.
_PRIORS = (
    RowSpec("disc", "Centred disc", optional=True),
    RowSpec("all_foreground", "All foreground", optional=True),
    RowSpec("kmeans_rgb", "K-means on RGB", optional=True),
)
_QUOTED = RowSpec(QUOTED, "")

SPECS: dict[int, TableSpec] = {
    1: TableSpec(1, "Comparisons", "flowers", (*_PRIORS, _GRABCUT, _OURS, _SHIPPED, _QUOTED),
                 ("acc", "iou", "dice")),
    2: TableSpec(2, "Comparisons", "cub", (*_PRIORS, _GRABCUT, _OURS, _SHIPPED, _QUOTED),
                 ("acc", "iou", "dice")),
    3: TableSpec(3, "Seg. Comparisons", "celebamask",
                 (_SUPERVISED, _KMEANS, _OURS, _QUOTED), ("acc", "miou")),
    4: TableSpec(4, "Seg. Comparisons", "pixel-imagenet",
                 (_SUPERVISED, _KMEANS, _OURS, _QUOTED), ("acc", "miou")),
    5: TableSpec(5, "Image and mask generation comparison on all datasets "
                 "(upper: FID (lower is better), bottom: Acc. (higher is better)).", None,
                 (RowSpec("ddpm", "DDPM"), _OURS), ("fid", "consistency"), PAPER_EXPERIMENTS),
    6: TableSpec(6, "Ablations of Decoding Scheme", "cub",
                 (*_PRIORS, RowSpec("concat", "Concat"),
                  RowSpec("mask_hmid", "Masking h_mid", r"Masking $h_{mid}$"),
                  RowSpec("unshared", "w/o weight sharing"), _OURS, _QUOTED), ("iou", "fid")),
    7: TableSpec(7, "Zero-shot transfer from ImageNet by class label mapping: accuracy and "
                 "mIoU per class", "voc", (_OURS,),
                 ("acc", "miou"), (*VOC_CLASSES, "mean")),
}  # fmt: skip


@dataclass(frozen=True)
class Table:
    """A finished table: values in display units (percent; FID as is), NaN = "-".

    ``caption``: the table's title (the paper's caption and the dataset). ``notes``: lines
    under the table stating the protocol once per group of rows that share it, the dagger and
    the "-" conventions.

    ``values``: rows x columns. ``metric``: the metric of every cell (direction and format).
    ``rows``: per row ``label``, ``latex`` label, ``source`` ("computed" or "quoted: ...") and
    ``group`` ("" when the table has no row groups).
    """

    number: int
    caption: str  # a sentence or two; LaTeX adds "Table N:" itself
    values: pd.DataFrame
    metric: pd.DataFrame
    rows: pd.DataFrame
    notes: tuple[str, ...] = ()  # the protocol, once per group of rows (under the table)

    @property
    def grouped(self) -> bool:
        return bool((self.rows["group"] != "").any())

    def best(self) -> pd.DataFrame:
        """Boolean mask of the best value of each column (within each row group).

        Compared at display precision, so ties are all bold; a column (group) with fewer than
        two values has no best.
        """
        import pandas as pd

        out = pd.DataFrame(False, index=self.values.index, columns=self.values.columns)
        for _, idx in self.rows.groupby("group", sort=False).groups.items():
            for col in self.values.columns:
                shown = pd.Series(
                    {
                        i: round(float(self.values.at[i, col]), decimals(self.metric.at[i, col]))
                        for i in idx
                    },
                    dtype=float,
                ).dropna()
                if len(shown) < 2:
                    continue
                higher = HIGHER_IS_BETTER[self.metric.at[shown.index[0], col]]
                target = shown.max() if higher else shown.min()
                out.loc[shown.index[shown == target], col] = True
        return out


_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    """Plain text -> LaTeX text."""
    return re.sub(r"[\\&%$#_{}~^]", lambda m: _LATEX_SPECIALS[m.group()], text)


def decimals(metric: str) -> int:
    """Digits after the point, as the paper prints them."""
    return 2 if metric in ("fid", "kid") else 1


def canonical_key(key: str) -> str:
    row, _, col = key.partition("@")
    row = ALIASES.get(row, row)
    return f"{row}@{col}" if col else row


def display_value(metric: str, value: float) -> float:
    """Fractions of segmentation metrics -> percent; FID/KID unchanged."""
    return 100.0 * value if metric in SEG_METRICS or metric == "consistency" else value
