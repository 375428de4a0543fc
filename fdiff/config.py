"""Typed run configuration: dataclasses built from validated YAML.

A run YAML has three sections, each mapping onto one dataclass::

    model:      {preset: paper64, arch: factorized, decoding: shared, num_regions: 3, ...}
    diffusion:  {timesteps: 1000, beta_start: 1.0e-4, beta_end: 0.02}
    train:      {steps: 50000, batch_size: 128, lr: 1.0e-4, ema_rate: 0.9999, ...}

``model.preset`` names a row of :data:`fdiff.model.presets.PRESETS`; any other model key overrides
that preset. Unknown keys, wrong types and out-of-range values raise :class:`FdiffError` naming
the key, the value and what was expected.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from fdiff.errors import FdiffError

Arch = Literal["ddpm", "factorized"]
Decoding = Literal["shared", "concat", "mask_hmid", "unshared"]

# The one arch registry: the workflow's {arch} wildcard, the config schema's arch enum (checked
# against it by tests/plan/test_archs.py, as JSON Schema cannot read Python) and the model's
# method label. Each name -> the model's (arch, decoding): one name per row of the paper's
# Tables 5 and 6, and the appendix's two-level model, a factorized model that only
# model.sub_regions >= 2 tells apart, so it is no choice of `--arch` (ARCH_VARIANTS).
ARCHS: dict[str, tuple[str, str]] = {
    "ddpm": ("ddpm", "shared"),
    "factorized": ("factorized", "shared"),
    "concat": ("factorized", "concat"),
    "mask_hmid": ("factorized", "mask_hmid"),
    "unshared": ("factorized", "unshared"),
    "hierarchical": ("factorized", "shared"),
}
HIERARCHICAL = "hierarchical"
ARCH_VARIANTS: dict[str, tuple[str, str]] = {
    name: pair for name, pair in ARCHS.items() if name != HIERARCHICAL
}


@dataclass(frozen=True)
class ModelConfig:
    """The network: a guided-diffusion style U-Net, standard or factorized (Sec. 3)."""

    arch: Arch = "factorized"
    decoding: Decoding = "shared"
    resolution: int = 32
    in_channels: int = 3
    base_channels: int = 32  # C in the paper
    channel_mult: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    attention_resolutions: tuple[int, ...] = (8,)  # feature-map sizes in pixels
    num_heads: int = 4
    dropout: float = 0.0
    use_scale_shift_norm: bool = True
    num_regions: int = 3  # K
    num_classes: int = 0  # > 0: class-conditional (ImageNet-64)
    # 0: the paper's one level of K masks; >= 2: the appendix's hierarchical model, each of the
    # K regions split into sub_regions (fdiff.model.hierarchical)
    sub_regions: int = 0

    def __post_init__(self) -> None:
        _check_choice("model.arch", self.arch, typing.get_args(Arch))
        _check_choice("model.decoding", self.decoding, typing.get_args(Decoding))
        _check(self.num_regions >= 2, "model.num_regions", self.num_regions, "an integer >= 2")
        _check(self.base_channels >= 1, "model.base_channels", self.base_channels, ">= 1")
        _check(self.num_res_blocks >= 1, "model.num_res_blocks", self.num_res_blocks, ">= 1")
        _check(len(self.channel_mult) >= 1, "model.channel_mult", self.channel_mult, "non-empty")
        _check(0.0 <= self.dropout < 1.0, "model.dropout", self.dropout, "in [0, 1)")
        _check(self.num_classes >= 0, "model.num_classes", self.num_classes, ">= 0")
        _check(
            self.sub_regions == 0 or (self.sub_regions >= 2 and self.factorized),
            "model.sub_regions",
            self.sub_regions,
            "0 (one level) or >= 2 with arch factorized",
        )
        factor = 2 ** (len(self.channel_mult) - 1)
        _check(
            self.resolution >= factor and self.resolution % factor == 0,
            "model.resolution",
            self.resolution,
            f"a multiple of {factor} (channel_mult {list(self.channel_mult)} downsamples "
            f"{len(self.channel_mult) - 1} times)",
        )

    @property
    def factorized(self) -> bool:
        return self.arch == "factorized"

    @property
    def method(self) -> str:
        """The model's method label: its key in :data:`ARCHS` (``ddpm``, ``factorized``,
        ``concat``, ``mask_hmid``, ``unshared``), or ``hierarchical`` for the appendix's
        two-level model (``sub_regions`` >= 2, the workflow's arch of that name): the one name
        that model files, sample and segmentation files, summaries, metric rows and tables use."""
        if self.sub_regions:
            return HIERARCHICAL
        pair = (self.arch, "shared" if self.arch == "ddpm" else self.decoding)
        return next(name for name, p in ARCH_VARIANTS.items() if p == pair)


@dataclass(frozen=True)
class DiffusionConfig:
    """The noise process of Ho et al.: a linear beta schedule with T steps (Sec. 4)."""

    timesteps: int = 1000
    beta_start: float = 1.0e-4
    beta_end: float = 0.02

    def __post_init__(self) -> None:
        _check(self.timesteps >= 2, "diffusion.timesteps", self.timesteps, "an integer >= 2")
        _check(
            0.0 < self.beta_start < self.beta_end < 1.0,
            "diffusion.beta_start/beta_end",
            (self.beta_start, self.beta_end),
            "0 < beta_start < beta_end < 1",
        )


@dataclass(frozen=True)
class TrainConfig:
    """Algorithm 1: Adam on the epsilon loss, with EMA, checkpoints and resume."""

    steps: int = 1000
    batch_size: int = 32  # global batch, split over DDP ranks
    lr: float = 1.0e-4
    lr_warmup: int = 0  # linear warm-up steps (0: constant lr, as in the paper)
    ema_rate: float = 0.9999
    ema_warmup: bool = True  # decay = min(rate, (1 + s) / (10 + s)) so short runs are usable
    grad_clip: float = 0.0  # 0: off
    flip: bool = True  # random horizontal flips
    checkpoint_every: int = 500
    log_every: int = 50
    sample_every: int = 0  # 0: no periodic sample grids
    sample_num: int = 16
    max_bad_steps: int = 0  # non-finite losses skipped before training stops
    seed: int = 0
    num_workers: int = 0
    device: str = "auto"  # auto | cpu | cuda
    bf16: bool = True  # autocast on CUDA only
    channels_last: bool = True  # on CUDA only
    compile: bool = False  # torch.compile the model
    checkpoint_activations: bool = False
    tensorboard: bool = True  # event files in RUN_DIR/tensorboard when tensorboard is installed

    def __post_init__(self) -> None:
        _check(self.steps >= 0, "train.steps", self.steps, "an integer >= 0")
        _check(self.batch_size >= 1, "train.batch_size", self.batch_size, "an integer >= 1")
        _check(self.lr > 0, "train.lr", self.lr, "> 0")
        _check(0.0 <= self.ema_rate < 1.0, "train.ema_rate", self.ema_rate, "in [0, 1)")
        _check(self.checkpoint_every >= 1, "train.checkpoint_every", self.checkpoint_every, ">= 1")
        _check(self.log_every >= 1, "train.log_every", self.log_every, ">= 1")
        _check(self.max_bad_steps >= 0, "train.max_bad_steps", self.max_bad_steps, ">= 0")
        _check_choice("train.device", self.device, ("auto", "cpu", "cuda"))


@dataclass(frozen=True)
class RunConfig:
    """A whole training run: model, diffusion and training settings."""

    model: ModelConfig = field(default_factory=ModelConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, source: str = "config") -> RunConfig:
        d = dict(d or {})
        _reject_unknown(d, {"model", "diffusion", "train"}, source)
        return cls(
            model=model_config_from_dict(d.get("model") or {}, f"{source}: model"),
            diffusion=_from_dict(DiffusionConfig, d.get("diffusion") or {}, f"{source}: diffusion"),
            train=_from_dict(TrainConfig, d.get("train") or {}, f"{source}: train"),
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> RunConfig:
        path = Path(path)
        if not path.is_file():
            raise FdiffError(f"{path}: config file not found")
        try:
            d = yaml.safe_load(path.read_text())
        except yaml.YAMLError as e:
            raise FdiffError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from e
        # an empty file is more likely a truncated write than a wish for every default
        if not isinstance(d, dict):
            what = "empty" if d is None else f"a {type(d).__name__}"
            raise FdiffError(f"{path}: {what}; expected a mapping with model/diffusion/train")
        return cls.from_dict(d, str(path))

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


def model_config_from_dict(d: dict[str, Any], source: str = "model") -> ModelConfig:
    """Build a :class:`ModelConfig` from a preset name plus overrides."""
    from fdiff.model.presets import PRESETS

    if not isinstance(d, dict):
        raise FdiffError(f"{source}: expected a mapping, got {type(d).__name__}")
    d = dict(d)
    preset = d.pop("preset", None)
    base: dict[str, Any] = {}
    if preset is not None:
        if preset not in PRESETS:
            raise FdiffError(
                f"{source}: unknown preset {preset!r}; expected one of {sorted(PRESETS)}"
            )
        base = dict(PRESETS[preset])
    base.update(d)
    return _from_dict(ModelConfig, base, source)


def to_plain(obj: Any) -> Any:
    """Dataclasses to dicts, tuples to lists: YAML- and weights_only-safe values."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_plain(v) for v in obj]
    return obj


def _from_dict(cls, d: dict[str, Any], source: str):
    if not isinstance(d, dict):
        raise FdiffError(f"{source}: expected a mapping, got {type(d).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    _reject_unknown(d, set(fields), source)
    hints = typing.get_type_hints(cls)
    kwargs = {k: _coerce(v, hints[k], f"{source}.{k}") for k, v in d.items()}
    try:
        return cls(**kwargs)
    except FdiffError as e:
        raise FdiffError(f"{source}: {e}") from None


def _reject_unknown(d: dict, known: set[str], source: str) -> None:
    unknown = sorted(set(d) - known)
    if unknown:
        raise FdiffError(f"{source}: unknown key {unknown[0]!r}; expected one of {sorted(known)}")


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check ``value`` against a type hint; lists become tuples for tuple fields."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        return value  # checked in __post_init__ with the list of choices
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise FdiffError(f"{key}: expected a list, got {value!r}")
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        return tuple(_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (typing.Union, types.UnionType):
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise FdiffError(f"{key}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FdiffError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FdiffError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise FdiffError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def _check(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise FdiffError(f"{key} = {value!r}: expected {expected}")


def _check_choice(key: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise FdiffError(f"{key} = {value!r}: expected one of {list(choices)}")
