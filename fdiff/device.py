"""The one place a device name (auto, cpu, cuda, cuda:N) becomes a torch.device."""

from __future__ import annotations

import os
import re

import torch

from fdiff.errors import FdiffError

DEVICE_NAME = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def resolve_device(name: str) -> torch.device:
    """``auto``: CUDA when present, else the CPU. Under torchrun, ``cuda`` is this rank's GPU
    (LOCAL_RANK), so that one config serves every rank."""
    if not DEVICE_NAME.match(name):
        raise FdiffError(f"{name!r}: expected auto, cpu, cuda or cuda:N", arg="device")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FdiffError(f"{name!r}: CUDA is not available here; use auto or cpu", arg="device")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    return torch.device(name)
