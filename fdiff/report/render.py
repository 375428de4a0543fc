"""A :class:`~fdiff.report.specs.Table` as CSV and as booktabs LaTeX (best value in bold).

The CSV holds one line per table row: ``group`` (Tables 5 and 7), ``method``, ``source``
("computed", "quoted: CITATION" or "not run") and the value columns, one digit more than the
LaTeX; a missing value is "-". The LaTeX is a ``table`` environment around a booktabs
``tabular`` rendered by pandas' ``Styler.to_latex``; quoted rows carry a dagger, the best
value of each column (within each row group) is ``\\textbf``. The caption is the table's
title (LaTeX numbers it); the protocol is stated once per group of rows in notes under the
tabular, as the paper's tables do. A table wider than the text (Tables 5 and 7) is scaled down
to the text width. It needs the ``booktabs`` and ``graphicx`` packages
(:data:`LATEX_PACKAGES`).
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pandas as pd

from fdiff.io import write_text
from fdiff.report.specs import Table, decimals, latex_escape

MISSING = "-"
LATEX_PACKAGES = ("booktabs", "graphicx")
FIT_TO_WIDTH = r"\ifdim\wd0>\linewidth\resizebox{\linewidth}{!}{\usebox0}\else\usebox0\fi" + "\n"


def _fmt(value: float, metric: str, extra: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    return f"{value:.{decimals(metric) + extra}f}"


def formatted(table: Table, extra_digits: int = 0) -> pd.DataFrame:
    """The values as strings ("-" for missing), at the paper's precision plus ``extra_digits``."""
    return pd.DataFrame(
        [
            [
                _fmt(table.values.iat[i, j], table.metric.iat[i, j], extra_digits)
                for j in range(table.values.shape[1])
            ]
            for i in range(table.values.shape[0])
        ],
        columns=table.values.columns,
    )


def table_csv(table: Table) -> str:
    """The CSV text of ``table``."""
    body = formatted(table, extra_digits=1)
    front = pd.DataFrame({"method": table.rows["label"], "source": table.rows["source"]})
    if table.grouped:
        front.insert(0, "group", table.rows["group"])
    buf = io.StringIO()
    pd.concat([front, body], axis=1).to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def table_latex(table: Table) -> str:
    """The LaTeX text of ``table`` (booktabs; best values bold; the title as caption, the
    protocol notes under the tabular)."""
    body = formatted(table)
    if table.grouped:
        index = pd.MultiIndex.from_arrays([table.rows["group"], table.rows["latex"]])
    else:
        index = pd.Index(table.rows["latex"])
    body.index = index
    best = table.best()
    css = pd.DataFrame(
        [["textbf: --rwrap;" if b else "" for b in row] for row in best.to_numpy()],
        index=index,
        columns=body.columns,
    )
    styler = body.style.apply(lambda _: css, axis=None).hide(names=True, axis="index")
    n_index = index.nlevels
    text = styler.to_latex(
        column_format="l" * n_index + "r" * body.shape[1],
        hrules=True,
        caption=latex_escape(table.caption),
        label=f"tab:table{table.number}",
        position="t",
        position_float="centering",
        multirow_align="naive",
    )
    quoted = table.rows["source"].str.startswith("quoted")
    blocks = list(zip(table.rows["group"], quoted, strict=True))
    text = _midrules_between_blocks(text, blocks, n_index + body.shape[1])
    # Scaled down to the text width only where it is wider (Tables 5 and 7).
    text = text.replace("\\begin{tabular}", "\\sbox0{%\n\\begin{tabular}", 1)
    text = text.replace("\\end{tabular}\n", "\\end{tabular}%\n}%\n" + FIT_TO_WIDTH, 1)
    return text.replace("\\end{table}", _notes_latex(table) + "\\end{table}", 1)


def _notes_latex(table: Table) -> str:
    """The notes under the tabular: one footnote-size paragraph, left-aligned."""
    if not table.notes:
        return ""
    body = " ".join(latex_escape(n) for n in table.notes)
    body = body.replace("dagger", "dagger ($^\\dagger$)", 1)
    return "\\par\\smallskip{\\footnotesize\\raggedright " + body + "\\par}\n"


def _midrules_between_blocks(text: str, blocks: list[tuple[str, bool]], ncols: int) -> str:
    r"""Rules where a new block of rows starts: ``\midrule`` before a new row group,
    ``\cmidrule`` (below the group label) before the quoted rows of a group."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(r"\midrule")) + 1
    out = lines[:start]
    for i, line in enumerate(lines[start : start + len(blocks)]):
        if i > 0 and blocks[i] != blocks[i - 1]:
            same_group = blocks[i][0] == blocks[i - 1][0] and blocks[i][0]
            out.append(f"\\cmidrule(l){{2-{ncols}}}\n" if same_group else "\\midrule\n")
        out.append(line)
    return "".join(out + lines[start + len(blocks) :])


def write_table(table: Table, out_csv: str | Path | None, out_tex: str | Path | None) -> None:
    """Write the CSV and/or the LaTeX file atomically."""
    if out_csv:
        write_text(out_csv, table_csv(table))
    if out_tex:
        write_text(out_tex, table_latex(table))
