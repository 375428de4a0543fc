"""Checkpoints: written atomically, read with ``weights_only=True`` only.

Two kinds, both plain dicts of tensors and primitives (see docs/contracts.md):

- the model file ``RUN_DIR/model.pt`` (format ``fdiff-model-1``): configs + EMA weights;
- the training state ``RUN_DIR/checkpoints/last.pt`` (format ``fdiff-train-1``): model, EMA,
  optimizer, step and RNG states, enough to resume bit-for-bit on the same device.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import torch

from fdiff.config import DiffusionConfig, ModelConfig, _from_dict, to_plain
from fdiff.diffusion.gaussian import GaussianDiffusion
from fdiff.errors import FdiffError
from fdiff.io import atomic_path
from fdiff.model.build import build_model

MODEL_FORMAT = "fdiff-model-1"
TRAIN_FORMAT = "fdiff-train-1"


def save(obj: dict[str, Any], path: str | Path) -> None:
    """torch.save to a temporary name, fsync, rename: never a half-written checkpoint.

    A failed write (disk full, file size limit) removes the temporary file and leaves the
    previous checkpoint as it was.
    """
    try:
        with atomic_path(path) as tmp:
            torch.save(obj, tmp)
    except (OSError, RuntimeError) as e:
        raise FdiffError(
            f"{path}: could not write the checkpoint ({e}); the previous one, if any, is kept"
        ) from None


def load(path: str | Path, expected_format: str, map_location="cpu") -> dict[str, Any]:
    """torch.load with weights_only=True; a file that needs unpickling is refused, not run."""
    path = Path(path)
    if not path.is_file():
        raise FdiffError(f"{path}: checkpoint not found")
    with open(path, "rb") as f:
        legacy = f.read(1) == b"\x80"  # a bare pickle stream (torch's legacy format)
    if not legacy and not zipfile.is_zipfile(path):  # torch.save writes a zip archive
        raise FdiffError(
            f"{path}: corrupt checkpoint: not the zip archive that torch.save writes "
            f"({path.stat().st_size} bytes; truncated, overwritten or another kind of file)"
        )
    try:
        obj = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise FdiffError(f"{path}: {_unpickling_reason(str(e))}") from None
    except (RuntimeError, EOFError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise FdiffError(f"{path}: corrupt or truncated checkpoint ({first})") from None
    if not isinstance(obj, dict) or obj.get("format") != expected_format:
        found = obj.get("format") if isinstance(obj, dict) else type(obj).__name__
        raise FdiffError(f"{path}: expected a {expected_format!r} file, found {found!r}")
    return obj


def _unpickling_reason(message: str) -> str:
    """One line for torch's weights-only refusal (the global or pickle operation it refused),
    without PyTorch's advice to load with ``weights_only=False``."""
    m = re.search(r"Unsupported (global: GLOBAL \S+|operand \d+)", message)
    if m:
        return f"not a weights-only checkpoint (refused, never unpickled): {m.group(0)}"
    return "corrupt checkpoint: its pickled contents do not load"


def model_state(
    model_cfg: ModelConfig, diffusion_cfg: DiffusionConfig, state_dict: dict, step: int
) -> dict[str, Any]:
    """The model file's contents."""
    return {
        "format": MODEL_FORMAT,
        "arch": model_cfg.method,
        "model": to_plain(model_cfg),
        "diffusion": to_plain(diffusion_cfg),
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "step": int(step),
    }


def load_state_dict_checked(model: torch.nn.Module, state_dict: dict, path: Path) -> None:
    """load_state_dict with a one-line error when the checkpoint is of another architecture."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    shape = sorted(k for k in set(own) & set(state_dict) if own[k].shape != state_dict[k].shape)
    if missing or unexpected or shape:
        what = (
            f"missing {missing[0]!r}"
            if missing
            else f"unexpected {unexpected[0]!r}"
            if unexpected
            else f"shape of {shape[0]!r} is {tuple(state_dict[shape[0]].shape)}, "
            f"model has {tuple(own[shape[0]].shape)}"
        )
        raise FdiffError(
            f"{path}: checkpoint does not fit this architecture "
            f"({len(missing)} missing, {len(unexpected)} unexpected, {len(shape)} mis-shaped "
            f"tensors; first: {what})"
        )
    model.load_state_dict(state_dict)


def load_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[torch.nn.Module, GaussianDiffusion]:
    """Read ``model.pt``: the network in eval mode with its EMA weights, and its diffusion."""
    path = Path(path)
    model, diffusion = _model_of(load(path, MODEL_FORMAT), path)
    return model.to(device).eval(), diffusion.to(device)


def _model_of(obj: dict[str, Any], path: Path) -> tuple[torch.nn.Module, GaussianDiffusion]:
    """The network (its weights loaded) and diffusion of a model file's contents."""
    model_cfg = _from_dict(ModelConfig, obj["model"], f"{path}: model")
    diffusion_cfg = _from_dict(DiffusionConfig, obj["diffusion"], f"{path}: diffusion")
    model = build_model(model_cfg)
    load_state_dict_checked(model, obj["state_dict"], path)
    return model, GaussianDiffusion(diffusion_cfg)


def file_sha256(path: str | Path) -> str:
    """The hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def install_model(
    src: str | Path,
    sha256: str,
    out: str | Path,
    arch: str | None = None,
    resolution: int | None = None,
) -> dict[str, Any]:
    """Install a shipped or released model file (``fdiff-model-1``) as a run's ``model.pt``.

    The file must have the expected sha256, load with ``weights_only=True``, build and accept
    its weights, and (when given) be of the method ``arch`` and the ``resolution`` of the
    experiment it is installed into; each mismatch is a one-line error naming the file and what
    was expected. The copy is atomic. Returns the file's metadata (arch, step, resolution).
    """
    src = Path(src)
    if not src.is_file():
        raise FdiffError(f"{src}: model file not found")
    found = file_sha256(src)
    if found != sha256.lower():
        raise FdiffError(
            f"{src}: sha256 is {found}, expected {sha256.lower()} (the config's pretrained."
            "sha256): another or a damaged file"
        )
    obj = load(src, MODEL_FORMAT)
    # builds the network and loads its weights: a one-line error otherwise. The label comes
    # from the config, so that files written before the hierarchical model had its own label
    # ("factorized") read as what they hold.
    model, _ = _model_of(obj, src)
    meta = {"arch": model.cfg.method, "step": obj["step"], "resolution": model.cfg.resolution}
    if arch is not None and meta["arch"] != arch:
        raise FdiffError(f"{src}: a {meta['arch']!r} model, expected {arch!r}")
    if resolution is not None and int(meta["resolution"]) != int(resolution):
        raise FdiffError(
            f"{src}: a {meta['resolution']} px model, expected {resolution} px "
            "(the experiment's res)"
        )
    with atomic_path(out) as tmp:
        shutil.copyfile(src, tmp)
    return meta
