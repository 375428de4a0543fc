"""Fixtures for the evaluation tests: a 16 px shapes dataset and tiny model files."""

from __future__ import annotations

import pytest
import torch

from fdiff.checkpoint import model_state, save
from fdiff.config import DiffusionConfig, model_config_from_dict
from fdiff.models import build_model


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """One intra-op thread: on 2 shared cores, two OpenMP threads spin against other jobs and
    small convolutions run 100x slower (measured: 0.75 ms vs 93 ms under load). Module scope:
    module fixtures (the trained supervised model) run under it too."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


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
