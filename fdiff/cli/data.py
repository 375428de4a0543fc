"""Data verbs: ``fdiff shapes``, ``fdiff download``, ``fdiff prepare``, ``fdiff bench-data``."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fdiff.cli.args import (
    COUNT,
    FRACTION,
    NATURAL,
    RESOLUTION,
    SECONDS,
    SEED,
    input_dir,
    input_file,
    output_dir,
    output_file,
)


def _shapes(args) -> int:
    from fdiff.data.shapes import ShapesConfig, write_shapes

    cfg = ShapesConfig(
        resolution=args.res,
        num_train=args.num_train,
        num_val=args.num_val,
        num_test=args.num_test,
        seed=args.seed,
        difficulty=args.difficulty,
    )
    write_shapes(cfg, args.out)
    return 0


def _download(args) -> int:
    from fdiff.data.download import download_dataset
    from fdiff.data.registry import load_registry

    reg = load_registry(args.registry, args.mirror)
    sources = download_dataset(reg.source(args.name), args.dest, reg, progress=not args.quiet)
    for name, checksum in sorted(sources.items()):
        print(f"{name}\t{checksum}")
    return 0


def _parts(value: str | None) -> tuple[str, ...] | None:
    return tuple(p.strip() for p in value.split(",") if p.strip()) if value else None


def _prepare(args) -> int:
    from fdiff.data.sources import PrepareOptions, prepare

    opts = PrepareOptions(
        workers=args.workers,
        seed=args.seed,
        per_class=args.per_class,
        train_per_class=args.train_per_class,
        masks=Path(args.masks) if args.masks else None,
        val_fraction=args.val_fraction,
        test_fraction=args.test_fraction,
        skin_parts=_parts(args.skin_parts),
        hair_parts=_parts(args.hair_parts),
        splits=_parts(args.splits),
        num_train=args.num_train,
        npz_wnids=Path(args.npz_wnids) if args.npz_wnids else None,
    )
    counts = prepare(args.name, args.raw, args.res, args.out, opts)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    return 0


def _bench_data(args) -> int:
    from fdiff.bench.data import cpu_cost, loader_throughput
    from fdiff.data.shapes import ShapesConfig, write_shapes

    with tempfile.TemporaryDirectory(prefix="fdiff-bench-") as tmp:
        files = [Path(p) for p in args.data] if args.data else []
        if not files:
            for r in args.res:
                f = Path(tmp) / f"shapes-{r}.h5"
                cfg = ShapesConfig(resolution=r, num_train=args.num, num_val=0, num_test=0)
                write_shapes(cfg, f)
                files.append(f)
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        print(f"# cpus={os.cpu_count()} load_avg_1min={load:.1f} batch={args.batch_size}")
        print("file\tworkers\timages_per_s\tworker_us_per_img\tconsumer_us_per_img\tcapacity")
        for f in files:
            cost = cpu_cost(str(f), args.split, args.batch_size)
            for w in args.workers:
                rate = loader_throughput(str(f), args.split, args.batch_size, w, args.seconds)
                print(
                    f"{f.name}\t{w}\t{rate:.0f}\t{cost.worker_us:.1f}\t{cost.consumer_us:.1f}\t"
                    f"{cost.capacity(max(w, 1)):.0f}",
                    flush=True,
                )
    return 0


def register(sub) -> None:
    from fdiff.data.shapes import LEVELS
    from fdiff.data.sources import DATASETS

    p = sub.add_parser(
        "shapes",
        help="write the synthetic shapes dataset",
        description="Seeded synthetic shapes with exact masks (docs/data.md: difficulty levels).",
    )
    p.add_argument("--res", type=RESOLUTION, required=True, help="resolution in pixels")
    p.add_argument("--out", required=True, type=output_file, help="output HDF5 file")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--difficulty", choices=list(LEVELS), default="medium")
    p.add_argument("--num-train", type=COUNT, default=5000)
    p.add_argument("--num-val", type=NATURAL, default=500)
    p.add_argument("--num-test", type=NATURAL, default=500)
    p.set_defaults(func=_shapes)

    p = sub.add_parser(
        "download",
        help="download and verify a dataset's raw files",
        description="Fetch, verify (md5/sha256) and unpack the raw files of a dataset into DEST. "
        "Datasets behind a login or licence are checked for the files placed by hand.",
    )
    p.add_argument("name", choices=DATASETS)
    p.add_argument("--dest", required=True, type=output_dir, help="raw directory")
    p.add_argument(
        "--mirror",
        help="base URL replacing every source: MIRROR/<name>/<file> (default: $FDIFF_MIRROR)",
    )
    p.add_argument(
        "--registry", help="JSON file overriding registry entries (default: $FDIFF_REGISTRY)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_download)

    p = sub.add_parser(
        "prepare",
        help="turn raw files into the dataset HDF5 format",
        description="Centre crop + antialiased resize (images) / nearest (masks) into one HDF5 "
        "file with the splits and mask rules of docs/data.md.",
    )
    p.add_argument("name", choices=DATASETS)
    p.add_argument(
        "--raw", required=True, type=input_dir, help="raw directory (from `fdiff download`)"
    )
    p.add_argument("--res", type=RESOLUTION, required=True)
    p.add_argument("--out", required=True, type=output_file, help="output HDF5 file")
    p.add_argument("--workers", type=NATURAL, default=0, help="decoding processes (0: in-process)")
    p.add_argument("--seed", type=SEED, default=0, help="pixel-imagenet subset / folder split")
    p.add_argument("--per-class", type=COUNT, default=20, help="pixel-imagenet: images per class")
    p.add_argument("--train-per-class", type=NATURAL, default=20,
                   help="pixel-imagenet: train images per class, disjoint from test")  # fmt: skip
    p.add_argument("--masks", type=input_dir, help="folder: parallel folder of masks")
    p.add_argument("--val-fraction", type=FRACTION, default=0.0, help="folder: share to val")
    p.add_argument("--test-fraction", type=FRACTION, default=0.0, help="folder: share to test")
    p.add_argument("--skin-parts", help="celebamask: comma-separated parts merged into skin")
    p.add_argument("--hair-parts", help="celebamask: comma-separated parts merged into hair")
    p.add_argument("--splits", help="celebamask: comma-separated subset of train,val,test")
    p.add_argument("--num-train", type=COUNT, default=60_000, help="ffhq without its JSON")
    p.add_argument("--npz-wnids", help="imagenet npz: the wnid of npz label L on line L "
                   "(the devkit's map_clsloc.txt): labels -> sorted-wnid order")  # fmt: skip
    p.set_defaults(func=_prepare)

    p = sub.add_parser(
        "bench-data",
        help="loader images/s on shapes files",
        description="Loader throughput (wall clock) and CPU cost per image of each side.",
    )
    p.add_argument("--res", type=RESOLUTION, nargs="+", default=[64, 128])
    p.add_argument(
        "--data", type=input_file, nargs="*", help="dataset files to measure instead of shapes"
    )
    p.add_argument("--split", default="train")
    p.add_argument("--num", type=COUNT, default=5000, help="shapes images per file")
    p.add_argument("--batch-size", type=COUNT, default=256)
    p.add_argument("--workers", type=NATURAL, nargs="+", default=[2])
    p.add_argument("--seconds", type=SECONDS, default=5.0)
    p.set_defaults(func=_bench_data)
