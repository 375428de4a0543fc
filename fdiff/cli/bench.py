"""``fdiff bench``: speed figures (step time against FLOPs, segmentation, sampling, data)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from fdiff.cli.args import COUNT, NATURAL, output_file

log = logging.getLogger("fdiff")


def register(sub: argparse._SubParsersAction) -> None:
    from fdiff.bench.report import SECTIONS, TRAIN_VARIANTS

    p = sub.add_parser(
        "bench",
        help="speed figures: training step per variant vs FLOPs, segmentation, sampling, data",
        description="Prints a table and writes a CSV. On CUDA: bf16 autocast and channels_last, "
        "CUDA-event timing after warm-up. --quick: the tiny preset and a few steps (CI smoke).",
    )
    p.add_argument("--preset", help="model preset (default paper64; tiny with --quick)")
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    p.add_argument("--batch-size", type=COUNT, help="per-step batch (default 64 on CUDA, 2 on CPU)")
    p.add_argument("--quick", action="store_true", help="tiny preset, few steps: a smoke check")
    p.add_argument("--compile", action="store_true", help="torch.compile the models")
    p.add_argument(
        "--checkpoint-activations", action="store_true", help="activation checkpointing in training"
    )
    p.add_argument("--warmup", type=NATURAL, help="untimed steps (default 3 on CUDA, 1 on CPU)")
    p.add_argument("--steps", type=COUNT, help="timed steps (default 10 on CUDA, 2 on CPU)")
    p.add_argument(
        "--variants",
        nargs="+",
        choices=[v[0] for v in TRAIN_VARIANTS],
        help="training variants to time (default all)",
    )
    p.add_argument("--sections", nargs="+", choices=SECTIONS, help="sections (default all)")
    p.add_argument("--ddim-steps", type=COUNT, default=100, help="k of DDIM-k (default 100)")
    p.add_argument(
        "--sample-steps",
        type=NATURAL,
        help="sampler steps actually timed, the full run extrapolated; 0 = full runs "
        "(default 0 on CUDA, 3 on CPU)",
    )
    p.add_argument("--data-workers", type=NATURAL, help="DataLoader workers (default 2; quick 0)")
    p.add_argument("--threads", type=COUNT, help="torch CPU threads (default: torch's; quick: 1)")
    p.add_argument(
        "--max-batch",
        action="store_true",
        help="instead: the largest training batch of paper64/paper128 that fits, with and "
        "without activation checkpointing (CUDA only)",
    )
    p.add_argument(
        "--out", type=output_file, default=Path("bench.csv"), help="CSV (default bench.csv)"
    )
    p.set_defaults(func=cmd_bench)


def cmd_bench(args) -> int:
    from fdiff.bench.max_batch import bench_max_batch
    from fdiff.bench.report import format_table, target_report, write_csv
    from fdiff.bench.speed import BenchOptions, run_bench

    if args.max_batch:
        result = bench_max_batch(device=args.device if args.device != "auto" else "cuda")
    else:
        opts = BenchOptions(
            preset=args.preset,
            device=args.device,
            batch_size=args.batch_size,
            quick=args.quick,
            compile=args.compile,
            checkpoint_activations=args.checkpoint_activations,
            warmup=args.warmup,
            steps=args.steps,
            ddim_steps=args.ddim_steps,
            sample_steps=args.sample_steps,
            data_workers=args.data_workers,
            threads=args.threads,
        )
        if args.variants:
            opts.variants = tuple(args.variants)
        if args.sections:
            opts.sections = tuple(args.sections)
        result = run_bench(opts)
    print(format_table(result))
    for line in target_report(result):
        print("target:", line)
    write_csv(result, args.out)
    print(f"wrote {args.out}")
    return 0
