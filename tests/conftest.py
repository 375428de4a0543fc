"""Shared fixtures: tiny models and tiny HDF5 datasets built on the spot."""

from __future__ import annotations

import pytest
import torch

from fdiff.checkpoint import model_state, save
from fdiff.config import DiffusionConfig, RunConfig, model_config_from_dict
from fdiff.models import build_model

# One intra-op thread: on a loaded 2-core machine OpenMP spin-waiting makes 2 threads up to 100x
# slower for tiny convolutions, and one thread makes CPU float reductions bit-reproducible.
torch.set_num_threads(1)


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
