"""Shared fixtures (tiny models and tiny HDF5 datasets built on the spot) and the test tiers.

Tiers: ``python3 -m pytest`` runs the fast tier, every test not marked slow (a real Snakemake
run of the reduced demo and a real torchrun included); ``python3 -m pytest --slow`` runs the
slow tier alone (the rehearsal, the SLURM clusters, the long launch tests). A marker expression
selects by itself (``-m ""``: both tiers). A test marked ``slurm`` or ``rehearsal`` belongs to
the slow tier even where it is not marked ``slow``.
"""

from __future__ import annotations

import os
import shlex

import pytest
import torch

from fdiff.config import DiffusionConfig, RunConfig, model_config_from_dict
from fdiff.model.build import build_model
from fdiff.training.checkpoint import model_state, save

# One intra-op thread: on a loaded 2-core machine OpenMP spin-waiting makes 2 threads up to 100x
# slower for tiny convolutions, and one thread makes CPU float reductions bit-reproducible.
torch.set_num_threads(1)


# --- tiers ----------------------------------------------------------------------------------

SLOW_MARKERS = ("slow", "slurm", "rehearsal")
_TIER = pytest.StashKey[tuple]()


def pytest_addoption(parser):
    parser.addoption(
        "--slow",
        action="store_true",
        help="run the slow tier (tests marked slow, slurm or rehearsal) instead of the fast tier",
    )


def is_slow(item) -> bool:
    return any(item.get_closest_marker(m) is not None for m in SLOW_MARKERS)


def _marker_expression_given(config) -> bool:
    """-m on the command line, even an empty one (``-m ""``: every tier)."""
    args = [*config.invocation_params.args, *shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))]
    return any(a == "-m" or (a.startswith("-m") and not a.startswith("--")) for a in args)


def pytest_collection_modifyitems(config, items):
    if _marker_expression_given(config):
        return
    slow = config.getoption("--slow")
    keep = [i for i in items if is_slow(i) == slow]
    dropped = [i for i in items if is_slow(i) != slow]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep
    config.stash[_TIER] = ("slow" if slow else "fast", len(dropped))


def pytest_terminal_summary(terminalreporter, config):
    tier, dropped = config.stash.get(_TIER, (None, 0))
    if tier == "fast" and dropped:
        terminalreporter.write_line(
            f"fast tier: {dropped} slow tests deselected (run them with --slow)"
        )
    elif tier == "slow" and dropped:
        terminalreporter.write_line(f"slow tier: {dropped} fast tests deselected")


# --- fixtures -------------------------------------------------------------------------------


def _tiny_run_config(**train) -> RunConfig:
    t = {"steps": 6, "batch_size": 4, "log_every": 2, "checkpoint_every": 3, "seed": 1}
    t.update(train)
    return RunConfig.from_dict({"model": {"preset": "tiny"}, "train": t})


@pytest.fixture
def tiny_run_config():
    """A factory: the tiny preset (16 px) with a short, fast training section (overrides)."""
    return _tiny_run_config


@pytest.fixture(scope="session")
def shapes16(tmp_path_factory):
    """A 16 px synthetic shapes file: 32 train, 8 val, 8 test images with masks."""
    from fdiff.data.shapes import ShapesConfig, write_shapes

    path = tmp_path_factory.mktemp("data") / "shapes16.h5"
    write_shapes(
        ShapesConfig(resolution=16, num_train=32, num_val=8, num_test=8, difficulty="easy"), path
    )
    return path


@pytest.fixture(scope="session")
def shapes_file(tmp_path_factory):
    """Synthetic shapes at 16 px: 24 train, 4 val, 8 test images with foreground masks."""
    from fdiff.data.shapes import ShapesConfig, write_shapes

    path = tmp_path_factory.mktemp("data") / "shapes16.h5"
    cfg = ShapesConfig(resolution=16, num_train=24, num_val=4, num_test=8, difficulty="easy")
    write_shapes(cfg, path)
    return path


def tiny_model_file(path, arch: str, seed: int = 0):
    """A model.pt of the 'tiny' preset with random weights (no training: fast tests)."""
    torch.manual_seed(seed)
    cfg = model_config_from_dict({"preset": "tiny", "arch": arch}, "test")
    model = build_model(cfg)
    save(model_state(cfg, DiffusionConfig(timesteps=100), model.state_dict(), 0), path)
    return path


@pytest.fixture(scope="session")
def ddpm_file(tmp_path_factory):
    return tiny_model_file(tmp_path_factory.mktemp("ddpm") / "model.pt", "ddpm")


@pytest.fixture(scope="session")
def factorized_file(tmp_path_factory):
    return tiny_model_file(tmp_path_factory.mktemp("fact") / "model.pt", "factorized")
