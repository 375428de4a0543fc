"""Verbs of the core model: summary, train, sample, segment."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from fdiff.cli.args import (
    COUNT,
    NATURAL,
    REGIONS,
    RESOLUTION,
    SEED,
    input_file,
    output_dir,
    output_file,
)
from fdiff.config import ARCH_VARIANTS, RunConfig, model_config_from_dict
from fdiff.errors import FdiffError

if TYPE_CHECKING:  # torch is imported by the verbs that run a model, not by the CLI itself
    pass

log = logging.getLogger("fdiff")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("summary", help="parameters per part and forward GFLOPs per sample")
    p.add_argument("--preset", required=True)
    p.add_argument("--arch", default="factorized", choices=sorted(ARCH_VARIANTS))
    p.add_argument("--num-regions", type=REGIONS, default=3)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_summary)

    p = sub.add_parser("train", help="train a model, or resume the run in --out")
    p.add_argument(
        "--config", required=True, type=input_file, help="run YAML (model/diffusion/train)"
    )
    p.add_argument("--data", required=True, type=input_file, help="dataset HDF5")
    p.add_argument("--out", required=True, type=output_dir, help="run directory")
    p.add_argument("--split", default="train")
    p.add_argument("--arch", choices=sorted(ARCH_VARIANTS), help="override model arch/decoding")
    p.add_argument("--steps", type=COUNT, help="override train.steps")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("sample", help="generate images and their masks (Algorithm 2)")
    p.add_argument("--model", required=True, type=input_file)
    p.add_argument("--num", required=True, type=COUNT, help="number of images")
    p.add_argument("--out", required=True, type=output_file)
    p.add_argument("--sampler", choices=["ddpm", "ddim"], default="ddpm")
    p.add_argument("--steps", type=COUNT, default=100, help="DDIM steps (DDPM uses all T)")
    p.add_argument("--batch-size", type=COUNT, default=64)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--classes", type=NATURAL, nargs="*", help="class labels, cycled (conditional)")
    p.add_argument("--soft-masks", action="store_true", help="also store the K soft masks")
    p.add_argument("--trajectory", type=NATURAL, nargs="*", help="record x_t at these t (Fig. 10)")
    p.add_argument("--start", type=NATURAL, default=0, help="index of the first image (shard)")
    p.add_argument("--parts", type=output_dir, help="finished batches (resume)")
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_sample)

    p = sub.add_parser("sample-gather", help="concatenate sample shards into one sample file")
    p.add_argument(
        "--shards", required=True, type=input_file, nargs="+", help="shard files (any order)"
    )
    p.add_argument("--num", type=COUNT, help="the images the shards must hold together")
    p.add_argument("--out", required=True, type=output_file)
    p.set_defaults(func=cmd_sample_gather)

    p = sub.add_parser("segment", help="segment real images: noise to t, one pass (Sec. 3.4)")
    p.add_argument("--model", required=True, type=input_file)
    p.add_argument("--data", required=True, type=input_file)
    p.add_argument("--split", default="test")
    p.add_argument("--t", type=NATURAL, default=30)
    p.add_argument("--out", required=True, type=output_file)
    p.add_argument("--batch-size", type=COUNT, default=64)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--soft-masks", action="store_true")
    p.add_argument(
        "--resize", action="store_true", help="segment images of another resolution (resized)"
    )
    p.add_argument("--condition", default="labels", choices=["labels", "voc-masks", "davis-names"],
                   help="class of each image for a class-conditional model: the file's labels, "
                   "or mapped to ImageNet (fdiff/data/imagenet_voc.py)")  # fmt: skip
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_segment)

    p = sub.add_parser("install-model", help="install a shipped or released model file")
    p.add_argument("--file", required=True, type=input_file, help="a model.pt (fdiff-model-1)")
    p.add_argument("--sha256", required=True, help="its expected sha256 (hex)")
    p.add_argument(
        "--out", required=True, type=output_file, help="where it goes (a run's model.pt)"
    )
    p.add_argument("--arch", help="refuse a model of another method (ModelConfig.method)")
    p.add_argument("--resolution", type=RESOLUTION, help="refuse a model of another resolution")
    p.set_defaults(func=cmd_install_model)


def cmd_summary(args) -> int:
    from fdiff.model.summary import summarize

    arch, decoding = ARCH_VARIANTS[args.arch]
    cfg = model_config_from_dict(
        {
            "preset": args.preset,
            "arch": arch,
            "decoding": decoding,
            "num_regions": args.num_regions,
        },
        "--preset",
    )
    s = summarize(cfg, args.preset)
    if args.json:
        print(json.dumps(s.__dict__, indent=2))
        return 0
    print(f"{s.preset} {s.arch} ({cfg.resolution} px, K={cfg.num_regions})")
    for part, n in s.parameters.items():
        print(f"  {part:<16} {n / 1e6:9.2f} M")
    print(f"  {'total':<16} {s.total_parameters / 1e6:9.2f} M")
    print(f"  forward          {s.gflops_forward:9.2f} GFLOP/sample")
    if s.gflops_masks_only is not None:
        print(f"  masks only       {s.gflops_masks_only:9.2f} GFLOP/sample")
    return 0


def cmd_train(args) -> int:
    from fdiff.data.loader import H5ImageDataset
    from fdiff.training.signals import TRAIN_STOP, SignalRecorder
    from fdiff.training.trainer import EXIT_PREEMPTED, Preempted, Trainer

    # A signal is recorded from here to the exit: one during start-up stops training after its
    # first step (checkpoint and marker), one after the last step stops nothing (exit 0).
    with SignalRecorder(TRAIN_STOP, ignore_after=True) as stop:
        cfg = RunConfig.from_yaml(args.config)
        d = cfg.to_dict()
        if args.arch:
            d["model"]["arch"], d["model"]["decoding"] = ARCH_VARIANTS[args.arch]
        if args.steps is not None:
            d["train"]["steps"] = args.steps
        cfg = RunConfig.from_dict(d, str(args.config))
        dataset = H5ImageDataset(args.data, args.split, uint8=True)  # Trainer converts on device
        res = dataset[0][0].shape[-1]
        if res != cfg.model.resolution:
            raise FdiffError(
                f"{args.data}: images are {res} px but model.resolution is {cfg.model.resolution}"
            )
        trainer = Trainer.build(cfg, dataset, args.out, _preview_split(args.data, args.split))
        try:
            trainer.run(stop)
        except Preempted as e:
            print(f"fdiff train: preempted: {e}", file=sys.stderr)
            return EXIT_PREEMPTED
    return 0


def _preview_split(data: Path, train_split: str):
    """The images training segments in TensorBoard: the val split, else the training split."""
    from fdiff.data.loader import H5ImageDataset

    if train_split == "val":
        return None
    try:
        return H5ImageDataset(data, "val", uint8=True, in_memory=False)  # 8 images are read
    except FdiffError:  # no val split: the trainer takes the first training images
        return None


def cmd_sample(args) -> int:
    from fdiff.device import resolve_device
    from fdiff.inference.sample_shards import SampleSpec, sample_range, write_samples
    from fdiff.training.checkpoint import load_model

    device = resolve_device(args.device)
    model, diffusion = load_model(args.model, device)
    cfg = model.cfg
    spec = SampleSpec(
        sampler=args.sampler,
        steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        classes=tuple(args.classes or ()),
        soft_masks=args.soft_masks,
        trajectory=tuple(args.trajectory or ()),
    )
    parts = args.parts or args.out.with_name(f".{args.out.name}.parts")
    stop = args.start + args.num
    arrays = sample_range(model, diffusion, spec, args.start, stop, device, args.model, parts)
    steps = diffusion.num_timesteps if args.sampler == "ddpm" else args.steps
    write_samples(
        args.out,
        arrays,
        {
            "checkpoint": str(args.model),
            "method": cfg.method,
            "sampler": args.sampler,
            "steps": steps,
            "seed": args.seed,
            "num_regions": model.num_regions if cfg.factorized else 0,
            "start": args.start,
            "stop": stop,
        },
    )
    shutil.rmtree(parts, ignore_errors=True)
    log.info("%d samples (images %d..%d) -> %s", args.num, args.start, stop, args.out)
    return 0


def cmd_sample_gather(args) -> int:
    from fdiff.inference.sample_shards import gather

    gather(args.shards, args.out, args.num)
    return 0


def cmd_install_model(args) -> int:
    from fdiff.training.checkpoint import install_model

    meta = install_model(args.file, args.sha256, args.out, args.arch, args.resolution)
    log.info(
        "%s: sha256 verified; a %s model of %s px trained %d steps, installed as %s",
        args.file, meta["arch"], meta["resolution"], meta["step"], args.out,
    )  # fmt: skip
    return 0


def cmd_segment(args) -> int:
    from fdiff.device import resolve_device
    from fdiff.inference.predictions import write_segmentation
    from fdiff.inference.segmentation import check_segmentable, segment_split, split_resolution
    from fdiff.training.checkpoint import load_model

    device = resolve_device(args.device)
    model, diffusion = load_model(args.model, device)
    res = split_resolution(args.data, args.split)
    check_segmentable(model, res, args.resize, args.model, args.data)
    mapped = None
    if model.cfg.num_classes:
        from fdiff.data.imagenet_voc import condition_labels

        mapped = condition_labels(args.data, args.split, args.condition)
    t0 = time.time()
    out = segment_split(
        model, diffusion, args.data, args.split, args.t, batch_size=args.batch_size,
        seed=args.seed, device=device, labels=mapped, resize=args.resize, soft=args.soft_masks,
    )  # fmt: skip
    attrs = {
        "data": str(args.data),
        "split": args.split,
        "t": args.t,
        "num_regions": model.num_regions,
        "method": model.cfg.method,
        "checkpoint": str(args.model),
        "model_resolution": model.cfg.resolution,
    }
    write_segmentation(args.out, out.masks, attrs, soft_masks=out.soft)
    dt, n = time.time() - t0, len(out.masks)
    log.info("%d images in %.1fs (%.1f images/s) -> %s", n, dt, n / dt, args.out)
    return 0
