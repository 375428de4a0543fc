"""Supervised U-Net segmentation: Tables 3 and 4's "Supervised UNet" rows and the reference
masks of Table 5's mask consistency.

The network is built from the same blocks as the diffusion models (:mod:`fdiff.model.halves`):
Encoder, Middle and a DecoderHalf whose head gives C class logits; it sees clean images, so the
timestep embedding is replaced by one learned vector. Trained with pixel-wise cross-entropy on a
dataset's labelled training masks (C classes, background included), Adam, random flips.

Mask consistency (Sec. 4.2): the trained model segments generated images [N x 3 x H x W]; its
class maps are the reference for the generated region masks [N x H x W], scored by pixel
accuracy after Hungarian matching of regions to classes over the whole sample set.
"""

from __future__ import annotations

import csv
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fdiff.config import ModelConfig, model_config_from_dict, to_plain
from fdiff.data.hdf5 import read_attrs, read_masks
from fdiff.data.loader import H5ImageDataset, to_float
from fdiff.errors import FdiffError
from fdiff.inference.predictions import region_map
from fdiff.io import atomic_path, write_json
from fdiff.model.halves import DecoderHalf, Encoder, Middle
from fdiff.progress import progress as pbar

log = logging.getLogger(__name__)

SEG_FORMAT = "fdiff-segmodel-1"


class SegUNet(nn.Module):
    """Images [N x 3 x H x W] in [-1, 1] -> class logits [N x C x H x W]."""

    def __init__(self, cfg: ModelConfig, num_classes: int):
        super().__init__()
        self.cfg, self.num_classes = cfg, num_classes
        emb = 4 * cfg.base_channels
        # No timestep: one learned conditioning vector feeds every ResBlock's embedding input.
        self.emb = nn.Parameter(torch.zeros(1, emb))
        self.encoder = Encoder(cfg, emb)
        self.middle = Middle(cfg, self.encoder.out_channels, emb)
        self.decoder = DecoderHalf(
            cfg, emb, self.encoder.skip_channels, num_classes, zero_head=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emb = self.emb.expand(x.shape[0], -1)
        h_enc = self.encoder(x, emb)
        return self.decoder(self.middle(h_enc[-1], emb), h_enc, emb)


@dataclass(frozen=True)
class SupervisedConfig:
    """Training of the supervised U-Net."""

    preset: str = "demo"
    steps: int = 2000
    batch_size: int = 32
    lr: float = 2e-4
    flip: bool = True
    seed: int = 0
    split: str = "train"
    log_every: int = 100
    device: str = "cpu"


def _save(path: Path, obj: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def train_supervised(data: str | Path, out_dir: str | Path, cfg: SupervisedConfig) -> Path:
    """Train on ``data``'s ``cfg.split`` images and masks; writes OUT_DIR/model.pt, metrics.csv."""
    data, out_dir = Path(data), Path(out_dir)
    attrs = read_attrs(data)
    masks = torch.from_numpy(read_masks(data, cfg.split))  # [N, H, W] uint8, class ids
    ds = H5ImageDataset(data, cfg.split)
    num_classes = max(int(attrs.get("num_classes", 0) or 0), int(masks.max()) + 1, 2)
    res = ds.info.height
    model_cfg = model_config_from_dict(
        {"preset": cfg.preset, "resolution": res, "arch": "ddpm"}, "train-supervised"
    )
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    model = SegUNet(model_cfg, num_classes).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    g = torch.Generator().manual_seed(cfg.seed)
    rows = []
    start = time.monotonic()
    running = 0.0
    bar = pbar(range(1, cfg.steps + 1), desc="train-supervised", mininterval=5)
    for step in bar:
        idx = torch.randint(len(ds), (cfg.batch_size,), generator=g).sort().values
        x, _ = ds.get_batch(idx.tolist())
        y = masks[idx].long()
        if cfg.flip:  # the same horizontal flip for image and mask
            f = torch.rand(len(idx), generator=g) < 0.5
            x[f], y[f] = x[f].flip(-1), y[f].flip(-1)
        logits = model(x.to(device))
        loss = F.cross_entropy(logits, y.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running += loss.item()
        if step % cfg.log_every == 0 or step == cfg.steps:
            n = cfg.log_every if step % cfg.log_every == 0 else step % cfg.log_every
            acc = float((logits.argmax(1) == y.to(device)).float().mean())
            el = time.monotonic() - start
            rows.append(
                {
                    "step": step,
                    "loss": running / n,
                    "batch_acc": acc,
                    "images_per_s": step * cfg.batch_size / el,
                    "elapsed_s": el,
                }
            )
            bar.set_postfix(loss=f"{running / n:.4f}", acc=f"{acc:.3f}")
            running = 0.0
    out_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(out_dir / "metrics.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(
            fh, fieldnames=["step", "loss", "batch_acc", "images_per_s", "elapsed_s"]
        )
        w.writeheader()
        w.writerows(rows)
    path = out_dir / "model.pt"
    _save(
        path,
        {
            "format": SEG_FORMAT,
            "model": to_plain(model_cfg),
            "num_classes": num_classes,
            "train": to_plain(cfg),
            "data": str(data),
            "dataset": str(attrs.get("dataset", data.stem)),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "step": cfg.steps,
        },
    )
    log.info(
        "supervised U-Net (%d classes) trained %d steps in %.0f s -> %s",
        num_classes,
        cfg.steps,
        time.monotonic() - start,
        path,
    )
    return path


def load_seg_model(path: str | Path, device: str | torch.device = "cpu") -> SegUNet:
    """A trained :class:`SegUNet` in eval mode (weights-only load)."""
    from fdiff.training.checkpoint import load, load_state_dict_checked

    path = Path(path)
    obj = load(path, SEG_FORMAT)
    model = SegUNet(model_config_from_dict(obj["model"], f"{path}: model"), obj["num_classes"])
    load_state_dict_checked(model, obj["state_dict"], path)
    return model.to(device).eval()


@torch.no_grad()
def predict_classes(model: SegUNet, images, batch_size: int = 64, device="cpu") -> np.ndarray:
    """Class maps [N x H x W] uint8 of uint8 images [N x H x W x 3] (an array or an h5py
    dataset, read one batch at a time)."""
    res = model.cfg.resolution
    if images.ndim != 4 or images.shape[1:3] != (res, res):
        raise FdiffError(
            f"images of shape {images.shape}: the segmentation model expects [N, {res}, {res}, 3]"
        )
    out = np.empty(images.shape[:3], np.uint8)
    for s in pbar(range(0, len(images), batch_size), desc="supervised segment", leave=False):
        x = to_float(np.asarray(images[s : s + batch_size])).to(device)
        out[s : s + batch_size] = region_map(model(x))  # class logits -> class ids
    return out


def segment_supervised(
    seg_model: str | Path,
    data: str | Path,
    split: str,
    out: str | Path,
    batch_size=64,
    device="cpu",
) -> Path:
    """Write the supervised model's class maps of a dataset split as a segmentation file."""
    import h5py

    from fdiff.inference.predictions import write_segmentation

    model = load_seg_model(seg_model, device)
    H5ImageDataset(data, split)  # validates the split against the schema
    with h5py.File(data, "r") as f:  # streamed: h5py slices are read batch by batch
        masks = predict_classes(model, f[split]["images"], batch_size, device)
    attrs = {
        "data": str(data),
        "split": split,
        "t": -1,
        "num_regions": model.num_classes,
        "method": "supervised-unet",
        "checkpoint": str(seg_model),
    }
    write_segmentation(out, masks, attrs)
    return Path(out)


@dataclass(frozen=True)
class ConsistencyResult:
    """Table 5 (bottom): agreement of generated masks with the supervised model's masks."""

    acc: float  # pixel accuracy, one Hungarian matching over all samples
    miou: float
    acc_per_image: float  # one matching per image, averaged
    n: int
    num_regions: int
    num_classes: int
    matching: list[int]  # class of region k
    samples: str
    masks: str
    seg_model: str


def consistency(
    samples: str | Path,
    seg_model: str | Path,
    masks: str | Path | None = None,
    batch_size: int = 64,
    device="cpu",
) -> ConsistencyResult:
    """Mask consistency of ``samples`` (their own masks, or those of ``masks``)."""
    import h5py

    from fdiff.inference.predictions import read_prediction
    from fdiff.metrics.segmentation import SegProtocol, multiclass_metrics

    pred = read_prediction(masks or samples)
    model = load_seg_model(seg_model, device)
    with h5py.File(samples, "r") as f:
        if "images" not in f:
            raise FdiffError(f"{samples}: no 'images' (expected generated images [N, H, W, 3])")
        if pred.masks.shape != f["images"].shape[:3]:
            raise FdiffError(
                f"{masks or samples}: masks {pred.masks.shape} do not match the "
                f"{f['images'].shape[:3]} images of {samples}"
            )
        ref = predict_classes(model, f["images"], batch_size, device)
    k, c = max(pred.num_regions, int(pred.masks.max()) + 1), model.num_classes
    proto = SegProtocol(split="samples", assignment="fixed", n=len(ref), num_regions=k)
    fixed = multiclass_metrics(pred.masks, ref, k, c, proto)
    per = multiclass_metrics(
        pred.masks,
        ref,
        k,
        c,
        SegProtocol(split="samples", assignment="per_image", n=len(ref), num_regions=k),
    )
    return ConsistencyResult(
        acc=fixed.acc,
        miou=fixed.miou,
        acc_per_image=per.acc,
        n=len(ref),
        num_regions=k,
        num_classes=c,
        matching=list(fixed.matching or ()),
        samples=str(samples),
        masks=str(masks or samples),
        seg_model=str(seg_model),
    )


def consistency_to_json(samples, seg_model, out, masks=None, batch_size=64, device="cpu"):
    """``fdiff consistency``: :func:`consistency` written as JSON."""
    result = consistency(samples, seg_model, masks, batch_size, device)
    write_json(out, asdict(result))
    log.info("mask consistency %.4f over %d samples -> %s", result.acc, result.n, out)
    return result
