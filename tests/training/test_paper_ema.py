"""The paper config trains with the paper's EMA: decay 0.9999 from the first step (Sec. 4)."""

from __future__ import annotations

from pathlib import Path

import yaml

from fdiff.config import RunConfig
from fdiff.training.state import ema_decay

PAPER = Path(__file__).resolve().parents[2] / "config" / "config.yaml"


def test_every_paper_experiment_averages_with_decay_0_9999_from_step_0():
    cfg = yaml.safe_load(PAPER.read_text())
    for name, exp in cfg["experiments"].items():
        run = RunConfig.from_dict(
            {"model": exp["model"], "diffusion": exp["diffusion"], "train": exp["train"]}, name
        )
        tc = run.train
        assert tc.ema_rate == 0.9999, name
        decays = [ema_decay(s, tc.ema_rate, tc.ema_warmup) for s in (0, 1000, tc.steps - 1)]
        assert decays == [0.9999] * 3, name
    # what the default warm-up would do: still below 0.9999 at the end of a 50K-step run
    assert ema_decay(49_999, 0.9999, True) < 0.9999
