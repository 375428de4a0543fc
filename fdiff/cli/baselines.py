"""Baseline verbs: train-supervised, segment-supervised, baseline-kmeans, baseline-grabcut,
baseline-prior."""

from __future__ import annotations

import argparse
import logging

from fdiff.cli.args import (
    COUNT,
    LEARNING_RATE,
    MARGIN,
    NATURAL,
    REGIONS,
    SEED,
    input_file,
    output_dir,
    output_file,
)

log = logging.getLogger("fdiff")


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers") from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-supervised", help="supervised U-Net on labelled training masks")
    p.add_argument("--data", required=True, type=input_file)
    p.add_argument(
        "--out", required=True, type=output_dir, help="run directory (model.pt, metrics.csv)"
    )
    p.add_argument("--split", default="train")
    p.add_argument("--preset", default="demo", help="U-Net size (fdiff.model.presets)")
    p.add_argument("--steps", type=COUNT, default=2000)
    p.add_argument("--batch-size", type=COUNT, default=32)
    p.add_argument("--lr", type=LEARNING_RATE, default=2e-4)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--log-every", type=COUNT, default=100)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=cmd_train_supervised)

    p = sub.add_parser("segment-supervised", help="class maps of a split by the supervised U-Net")
    p.add_argument("--seg-model", "--model", dest="seg_model", required=True, type=input_file)
    p.add_argument("--data", required=True, type=input_file)
    p.add_argument("--split", default="test")
    p.add_argument("--batch-size", type=COUNT, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, type=output_file)
    p.set_defaults(func=cmd_segment_supervised)

    p = sub.add_parser("baseline-kmeans", help="DatasetDDPM-unsup: K-means on DDPM features")
    p.add_argument("--model", required=True, type=input_file, help="trained standard DDPM model.pt")
    p.add_argument("--data", required=True, type=input_file, help="dataset HDF5 (fitting images)")
    p.add_argument("--fit-split", default="train")
    p.add_argument("--split", default="test", help="split to segment (ignored with --samples)")
    p.add_argument("--samples", type=input_file, help="segment this samples file's images instead")
    p.add_argument("--ts", type=_ints, default=(), help="noise levels, e.g. 50,150,250")
    p.add_argument("--blocks", type=_ints, default=(), help="decoder blocks, e.g. 1,2,4")
    p.add_argument("--clusters", type=REGIONS, default=3, help="K")
    p.add_argument("--fit-limit", type=NATURAL, default=5000, help="fitting images (0: all)")
    p.add_argument("--pixels-per-image", type=NATURAL, default=256, help="0: every pixel")
    p.add_argument("--epochs", type=COUNT, default=1)
    p.add_argument("--batch-size", type=COUNT, default=32)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, type=output_file)
    p.set_defaults(func=cmd_baseline_kmeans)

    p = sub.add_parser("baseline-grabcut", help="OpenCV GrabCut from a centred rectangle")
    p.add_argument("--data", required=True, type=input_file)
    p.add_argument("--split", default="test")
    p.add_argument("--margin", type=MARGIN, default=0.1, help="rectangle margin per side")
    p.add_argument("--iterations", type=COUNT, default=5)
    p.add_argument("--workers", type=NATURAL, default=1, help="processes (0 or 1: in-process)")
    p.add_argument("--out", required=True, type=output_file)
    p.set_defaults(func=cmd_baseline_grabcut)

    p = sub.add_parser(
        "baseline-prior", help="centred disc, all foreground, or K-means on pixel colour"
    )
    p.add_argument("--kind", required=True, choices=["disc", "all-foreground", "kmeans-rgb"])
    p.add_argument("--data", required=True, type=input_file)
    p.add_argument("--split", default="test")
    p.add_argument("--k", type=REGIONS, default=3, help="kmeans-rgb: colour clusters per image")
    p.add_argument("--seed", type=SEED, default=0, help="kmeans-rgb: k-means++ start")
    p.add_argument("--fit-split", default="train", help="disc: split whose masks give its area")
    p.add_argument("--out", required=True, type=output_file)
    p.set_defaults(func=cmd_baseline_prior)


def cmd_train_supervised(args) -> int:
    from fdiff.baselines.supervised import SupervisedConfig, train_supervised
    from fdiff.device import resolve_device

    cfg = SupervisedConfig(
        preset=args.preset,
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        split=args.split,
        log_every=args.log_every,
        device=str(resolve_device(args.device)),
    )
    train_supervised(args.data, args.out, cfg)
    return 0


def cmd_segment_supervised(args) -> int:
    from fdiff.baselines.supervised import segment_supervised
    from fdiff.device import resolve_device

    segment_supervised(
        args.seg_model,
        args.data,
        args.split,
        args.out,
        args.batch_size,
        str(resolve_device(args.device)),
    )
    return 0


def cmd_baseline_kmeans(args) -> int:
    from fdiff.baselines.kmeans_ddpm import KMeansDDPMConfig, run_kmeans_baseline
    from fdiff.device import resolve_device

    cfg = KMeansDDPMConfig(
        ts=args.ts,
        blocks=args.blocks,
        num_clusters=args.clusters,
        fit_limit=args.fit_limit,
        pixels_per_image=args.pixels_per_image,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        device=str(resolve_device(args.device)),
    )
    run_kmeans_baseline(
        args.model,
        args.data,
        args.out,
        cfg,
        fit_split=args.fit_split,
        split=args.split,
        samples=args.samples,
    )
    return 0


def cmd_baseline_grabcut(args) -> int:
    from fdiff.baselines.grabcut import GrabCutConfig, run_grabcut

    cfg = GrabCutConfig(margin=args.margin, iterations=args.iterations, workers=args.workers)
    run_grabcut(args.data, args.split, args.out, cfg)
    return 0


def cmd_baseline_prior(args) -> int:
    from fdiff.baselines.priors import PriorConfig, run_prior

    cfg = PriorConfig(kind=args.kind, clusters=args.k, seed=args.seed, fit_split=args.fit_split)
    run_prior(args.data, args.split, args.out, cfg)
    return 0
