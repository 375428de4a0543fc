"""The t sweep (appendix): segment at several t with a tiny factorized model and score each.

The model has random weights (untrained): the test checks the pipeline and the protocol
columns, not segmentation quality.
"""

from __future__ import annotations

import pandas as pd

from fdiff.cli import main


def test_tsweep_writes_one_row_per_t(shapes_file, factorized_file, tmp_path):
    out = tmp_path / "sweep.csv"
    argv = ["tsweep", "--model", str(factorized_file), "--data", str(shapes_file)]
    argv += ["--split", "test", "--t", "0", "30", "60", "--batch-size", "4", "--device", "cpu"]
    assert main([*argv, "--out", str(out)]) == 0
    df = pd.read_csv(out)
    assert list(df.t) == [0, 30, 60]
    assert (df.protocol == "per_image").all() and (df.n == 8).all() and (df.num_regions == 3).all()
    assert df[["acc", "iou", "dice"]].apply(lambda c: c.between(0, 1)).all().all()

    fixed = tmp_path / "fixed.csv"
    argv = ["tsweep", "--model", str(factorized_file), "--data", str(shapes_file), "--t", "30"]
    argv += ["--limit", "4", "--protocol", "fixed", "--device", "cpu"]
    assert main([*argv, "--out", str(fixed)]) == 0
    row = pd.read_csv(fixed).iloc[0]
    assert (row.t, row.n, row.fit_split) == (30, 4, "train")
    assert row.assignment.startswith("fg=")


def test_tsweep_refuses_a_standard_ddpm(shapes_file, tmp_path, capsys):
    from fdiff.config import DiffusionConfig, model_config_from_dict
    from fdiff.model.build import build_model
    from fdiff.training.checkpoint import model_state, save

    cfg = model_config_from_dict({"preset": "tiny", "arch": "ddpm"}, "test")
    path = tmp_path / "ddpm.pt"
    save(model_state(cfg, DiffusionConfig(timesteps=100), build_model(cfg).state_dict(), 0), path)
    argv = [
        "tsweep",
        "--model",
        str(path),
        "--data",
        str(shapes_file),
        "--out",
        str(tmp_path / "s.csv"),
    ]
    assert main(argv) == 2
    assert "mask generator" in capsys.readouterr().err
