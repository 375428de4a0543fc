"""Published numbers (quoted, never recomputed): the rows of the paper's Tables 1-6.

``literature.csv`` (next to this file) holds one number per row: ``table, dataset, resolution,
method, metric, value, unit, cited, quoted_from, quoted``. ``value`` is as printed in the paper
(``unit`` "percent" for Acc / IoU / DICE / mIoU / consistency, "fid" for FID); ``cited`` names
the work the number belongs to and ``quoted_from`` the table it was copied from. Every row has
``quoted = yes``: tables must mark these rows as quoted, next to the numbers this code measures.
The paper's Table 7 and the appendix give no numbers in the text we have, so none are listed.
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

COLUMNS = [
    "table",
    "dataset",
    "resolution",
    "method",
    "metric",
    "value",
    "unit",
    "cited",
    "quoted_from",
    "quoted",
]


def load_literature(table: int | None = None) -> pd.DataFrame:
    """The quoted rows (of one ``table``, or all); ``value01`` is ``value`` on our [0, 1] scale
    for percentages (FID unchanged)."""
    with resources.files("fdiff.baselines").joinpath("literature.csv").open() as f:
        df = pd.read_csv(f, dtype={"resolution": "Int64"})
    if list(df.columns) != COLUMNS:
        raise ValueError(f"literature.csv columns {list(df.columns)}: expected {COLUMNS}")
    if table is not None:
        df = df[df["table"] == table].reset_index(drop=True)
    df["value01"] = df["value"].where(df["unit"] != "percent", df["value"] / 100.0)
    return df
