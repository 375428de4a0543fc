"""Tables 1-7 from fixture result files: cells, bold, "-", quoted rows, LaTeX structure, CLI."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from latexdoc import compile_tables, require_pdflatex
from report_fixtures import consistency_json, fid_json, paper_inputs, seg_csv

from fdiff.cli import main
from fdiff.errors import FdiffError
from fdiff.report.render import table_csv, table_latex
from fdiff.report.results import default_literature
from fdiff.report.tables import build_table


def _row(table, label):
    rows = table.rows.index[table.rows["label"] == label]
    assert len(rows) == 1, f"{label!r} in {list(table.rows['label'])}"
    return rows[0]


def _tabular(tex: str) -> tuple[int, list[list[str]]]:
    """Check the booktabs tabular structure; return (columns, data rows split on &)."""
    m = re.search(r"\\begin\{tabular\}\{([lcr]+)\}\n(.*?)\\end\{tabular\}", tex, re.S)
    assert m, tex
    ncols, body = len(m.group(1)), m.group(2)
    assert body.startswith("\\toprule\n") and body.rstrip().endswith("\\bottomrule")
    assert "\\midrule" in body
    rows = [
        line.removesuffix(" \\\\").split(" & ")
        for line in body.splitlines()
        if line.endswith("\\\\") and not line.startswith("\\")
    ]
    for cells in rows:
        assert len(cells) == ncols, cells
    assert tex.count("\\begin{table}") == tex.count("\\end{table}") == 1
    assert tex.count("{") == tex.count("}")
    return ncols, rows[1:]  # without the header


def test_table2_cells_bold_missing_and_quoted(tmp_path, literature):
    ours_pi = seg_csv(tmp_path / "ours_pi.csv", "cub", "per_image", 0.896, 0.561, 0.694)
    ours_fx = seg_csv(tmp_path / "ours_fx.csv", "cub", "fixed", 0.85, 0.50, 0.65)
    grab = seg_csv(tmp_path / "grab.csv", "cub", "per_image", 0.723, 0.36, 0.487, "grabcut", "")
    t = build_table(2, {"grabcut": [grab], "ours": [ours_pi, ours_fx]}, literature)

    assert t.values.at[_row(t, "Ours (per-image)"), "IoU"] == pytest.approx(56.1)
    assert t.values.at[_row(t, "Ours (fixed)"), "Acc."] == pytest.approx(85.0)
    assert t.values.at[_row(t, "GrabCut (per-image)"), "DICE"] == pytest.approx(48.7)
    assert t.values.at[_row(t, "IEM (published)"), "DICE"] == pytest.approx(66.0)
    redo = _row(t, "ReDO (published)")
    assert pd.isna(t.values.at[redo, "DICE"])
    assert t.rows.at[redo, "source"].startswith("quoted: Chen et al. [8]")

    best = t.best()
    assert best.loc[_row(t, "Ours (per-image)")].all()
    assert not best.loc[_row(t, "Ours (fixed)")].any()

    csv = pd.read_csv(pd.io.common.StringIO(table_csv(t)), dtype=str)
    assert list(csv.columns) == ["method", "source", "Acc.", "IoU", "DICE"]
    assert csv.loc[csv["method"] == "ReDO (published)", "DICE"].item() == "-"
    assert csv.loc[csv["method"] == "Ours (per-image)", "IoU"].item() == "56.10"

    tex = table_latex(t)
    _, rows = _tabular(tex)
    by_label = {r[0]: r[1:] for r in rows}
    assert by_label["Ours (per-image)"] == [r"\textbf{89.6}", r"\textbf{56.1}", r"\textbf{69.4}"]
    assert by_label["ReDO (published)$^\\dagger$"] == ["84.5", "42.6", "-"]
    assert by_label["GrabCut (per-image)"] == ["72.3", "36.0", "48.7"]
    assert "t = 30" in tex and "chosen on the train split" in tex and "100 test images" in tex
    assert tex.count("100 test images") == 1  # the protocol once, not row by row


def test_table1_without_results_is_all_dashes_and_quoted_rows_follow_the_dataset(
    tmp_path, literature
):
    empty = build_table(1, {}, literature=None)
    assert list(empty.rows["label"]) == ["GrabCut", "Ours"]
    assert empty.values.isna().all().all()
    assert set(empty.rows["source"]) == {"not run"}
    assert "-" in table_csv(empty)

    # the demo runs Table 2's layout on shapes: CUB's quoted rows must not appear next to it
    ours = seg_csv(tmp_path / "o.csv", "shapes", "per_image", 0.9, 0.8, 0.85)
    t = build_table(2, {"factorized": [ours]}, literature)
    assert list(t.rows["label"]) == ["GrabCut", "Ours"]
    assert "on Shapes (the paper's Table 2 is on CUB)" in t.caption
    assert any("quoted rows are left out" in n for n in t.notes)


def test_table5_columns_groups_and_direction(tmp_path, literature):
    inputs = {
        "ddpm@shapes-32": [fid_json(tmp_path / "d.json", 30.0)],
        "factorized@shapes-32": [
            fid_json(tmp_path / "f.json", 25.0),
            consistency_json(tmp_path / "c.json", 0.9),
        ],
    }
    t = build_table(5, inputs, literature)
    assert list(t.values.columns)[:7] == [
        "Flower-64", "Flower-128", "CUB-64", "CUB-128", "FFHQ-64", "FFHQ-128", "ImageNet-64",
    ]  # fmt: skip
    assert t.values.columns[-1] == "Shapes-32"
    fid_rows = t.rows.index[t.rows["group"].str.startswith("FID")]
    acc_rows = t.rows.index[t.rows["group"].str.startswith("Acc.")]
    ddpm_fid, ours_fid = fid_rows[0], fid_rows[1]
    assert t.values.at[ddpm_fid, "Shapes-32"] == 30.0
    assert t.values.at[acc_rows[1], "Shapes-32"] == pytest.approx(90.0)
    assert pd.isna(t.values.at[acc_rows[0], "Shapes-32"])  # DDPM consistency not run
    best = t.best()
    assert best.at[ours_fid, "Shapes-32"] and not best.at[ddpm_fid, "Shapes-32"]  # lower wins
    published = _row(t, "Ours (published)")
    assert t.values.at[published, "CUB-128"] == 10.28
    assert pd.isna(t.values.at[ours_fid, "CUB-128"])
    (fid_note,) = [n for n in t.notes if n.startswith("FID of")]  # stated once, for all cells
    assert "ddim sampler, 50 steps" in fid_note and "500 samples" in fid_note
    _, rows = _tabular(table_latex(t))
    assert any(r[1] == "Ours" and r[-1] == r"\textbf{25.00}" for r in rows)


def test_table6_ablation_rows(tmp_path, literature):
    inputs = {
        "concat": [seg_csv(tmp_path / "c.csv", "cub", "per_image", 0.7, 0.2, 0.3, "concat")],
        "ours": [
            seg_csv(tmp_path / "o.csv", "cub", "per_image", 0.9, 0.56, 0.69),
            fid_json(tmp_path / "o.json", 10.5),
        ],
    }
    inputs["concat"].append(fid_json(tmp_path / "c.json", 14.0))
    t = build_table(6, inputs, literature)
    labels = list(t.rows["label"])
    assert labels[:4] == ["Concat", "Masking h_mid", "w/o weight sharing", "Ours"]
    assert t.values.at[_row(t, "Ours"), "IoU"] == pytest.approx(56.0)
    assert t.values.at[_row(t, "Concat"), "FID"] == 14.0
    assert t.values.loc[_row(t, "Masking h_mid")].isna().all()
    best = t.best()
    assert best.at[_row(t, "Ours"), "FID"] and not best.at[_row(t, "Concat"), "FID"]
    assert r"Masking $h_{mid}$" in table_latex(t)


def test_prior_rows_in_tables_1_and_6_both_protocols(tmp_path):
    """The trivial and colour baselines: computed rows above GrabCut (Table 1) and the ablations
    (Table 6), one per protocol, shown only when a file feeds them."""
    files = {}
    for p in ("per_image", "fixed"):
        files.setdefault("disc", []).append(
            seg_csv(tmp_path / f"disc-{p}.csv", "shapes", p, 0.81, 0.30, 0.44, "disc", "")
        )
        fg = seg_csv(tmp_path / f"fg-{p}.csv", "shapes", p, 0.17, 0.17, 0.28, "all-foreground", "")
        fg.write_text(fg.read_text().replace(",100,3,", ",100,1,"))  # K = 1
        files.setdefault("all_foreground", []).append(fg)
        files.setdefault("kmeans-rgb", []).append(  # the method name is an alias of the key
            seg_csv(tmp_path / f"km-{p}.csv", "shapes", p, 0.93, 0.74, 0.81, "kmeans-rgb", "")
        )
        files.setdefault("factorized", []).append(
            seg_csv(tmp_path / f"ours-{p}.csv", "shapes", p, 0.85, 0.40, 0.55)
        )
    t = build_table(1, files)
    labels = list(t.rows["label"])
    assert labels == [
        "Centred disc (per-image)",
        "Centred disc (fixed)",
        "All foreground (per-image)",
        "All foreground (fixed)",
        "K-means on RGB (per-image)",
        "K-means on RGB (fixed)",
        "GrabCut",
        "Ours (per-image)",
        "Ours (fixed)",
    ]
    assert t.values.at[_row(t, "Centred disc (fixed)"), "IoU"] == pytest.approx(30.0)
    assert t.values.at[_row(t, "All foreground (per-image)"), "Acc."] == pytest.approx(17.0)
    assert t.rows.at[_row(t, "K-means on RGB (fixed)"), "source"] == "computed"
    assert t.rows.at[_row(t, "GrabCut"), "source"] == "not run"
    assert t.best().at[_row(t, "K-means on RGB (per-image)"), "IoU"]
    assert "Shapes (the paper's Table 1 is on Flower)" in t.caption
    assert "Scores on 100 test images of Shapes." in t.notes  # once for every row
    assert any(
        n.startswith("All foreground: K = 1 region (every pixel foreground") for n in t.notes
    )

    t6 = build_table(6, {"disc": files["disc"], "factorized": files["factorized"]})
    assert list(t6.rows["label"])[:3] == [
        "Centred disc (per-image)",
        "Centred disc (fixed)",
        "Concat",
    ]
    assert pd.isna(t6.values.at[_row(t6, "Centred disc (fixed)"), "FID"])


def test_table7_per_class(tmp_path):
    path = tmp_path / "voc.csv"
    path.write_text(
        "method,dataset,split,protocol,t,n,num_regions,class,acc,miou\n"
        "factorized,voc,val,per_image,30,10,3,aeroplane,0.8,0.6\n"
        "factorized,voc,val,per_image,30,12,3,cat,0.7,0.5\n"
    )
    t = build_table(7, {"ours": [path]})
    acc, miou = t.rows.index
    assert t.values.at[acc, "aeroplane"] == pytest.approx(80.0)
    assert t.values.at[miou, "cat"] == pytest.approx(50.0)
    assert t.values.at[acc, "mean"] == pytest.approx(75.0)
    assert pd.isna(t.values.at[acc, "bicycle"])
    ncols, rows = _tabular(table_latex(t))
    assert ncols == 2 + 21
    # an overall eval-seg CSV fills the mean and nothing else
    overall = seg_csv(tmp_path / "all.csv", "voc", "per_image", 0.7, 0.5, 0.6)
    t = build_table(7, {"factorized": [overall]})
    assert t.values.at[t.rows.index[0], "mean"] == pytest.approx(70.0)
    assert t.values.drop(columns="mean").isna().all().all()


def test_bad_inputs_fail_with_the_file_named(tmp_path):
    ok = seg_csv(tmp_path / "o.csv", "cub", "per_image", 0.9, 0.5, 0.6)
    with pytest.raises(FdiffError, match="input key 'kmeans'"):
        build_table(2, {"kmeans": [ok]})
    with pytest.raises(FdiffError, match="ROW@EXPERIMENT"):
        build_table(5, {"ddpm": [ok]})
    bad = seg_csv(tmp_path / "bad.csv", "cub", "per_image", 1.5, 0.5, 0.6)
    with pytest.raises(FdiffError, match="bad.csv: acc = 1.5"):
        build_table(2, {"ours": [bad]})
    two = tmp_path / "two.csv"
    two.write_text(ok.read_text() + ok.read_text().splitlines()[1] + "\n")
    with pytest.raises(FdiffError, match="two.csv: 2 rows"):
        build_table(2, {"ours": [two]})
    with pytest.raises(FdiffError, match="two results for row 'factorized'"):
        build_table(2, {"ours": [ok, ok]})


def test_cli_writes_csv_and_tex(tmp_path):
    ours = seg_csv(tmp_path / "o.csv", "flowers", "per_image", 0.91, 0.8, 0.88)
    out_csv, out_tex = tmp_path / "t1.csv", tmp_path / "t1.tex"
    argv = ["table", "1", "--input", f"ours={ours}", "--out-csv", str(out_csv)]
    assert main([*argv, "--out-tex", str(out_tex)]) == 0
    df = pd.read_csv(out_csv, dtype=str)
    assert df.loc[df["method"] == "Ours", "IoU"].item() == "80.00"
    assert (df["source"].str.startswith("quoted")).sum() >= 4  # the packaged literature rows
    _tabular(out_tex.read_text())
    assert main(["table", "1", "--input", f"nope={ours}", "--out-csv", str(out_csv)]) == 2


def test_every_table_compiles_in_one_document(tmp_path):
    """Tables 1-7 as the paper plan fills them, dropped as they are into one article."""
    require_pdflatex()
    bodies = []
    for n, inputs in paper_inputs(tmp_path).items():
        table = build_table(n, inputs, default_literature())
        assert not table.caption.startswith("Table"), table.caption  # LaTeX numbers it
        assert len(table.caption) < 200 and table.notes
        bodies.append(table_latex(table))
    assert len(bodies) == 7
    compile_tables(bodies, tmp_path)
