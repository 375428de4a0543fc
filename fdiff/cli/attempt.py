"""``fdiff train-attempt``: one attempt at a training run, as the train rule runs it."""

from __future__ import annotations

import argparse

from fdiff.cli.args import COUNT, NATURAL, input_file, output_dir, output_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train-attempt",
        help="run the training launcher once and record the attempt's verdict (the train rule)",
    )
    p.add_argument("--config", required=True, type=input_file, help="run YAML (RUN_DIR/run.yaml)")
    p.add_argument("--data", required=True, type=input_file, help="dataset HDF5")
    p.add_argument("--out", required=True, type=output_dir, help="run directory")
    p.add_argument(
        "--launcher",
        default="fdiff",
        help="what starts `fdiff train` (fdiff, torchrun ..., srun ...)",
    )
    p.add_argument("--retries", type=NATURAL, default=0, help="launch.retries: resubmissions")
    p.add_argument("--log", required=True, type=output_file, help="the job's log (appended)")
    p.add_argument("--attempt", type=COUNT, default=1, help="Snakemake's attempt number")
    p.add_argument(
        "command",
        nargs="+",
        help="after --: what trains (fdiff train, torchrun ... -m fdiff train, srun ...); "
        "--config, --data and --out are added",
    )
    p.set_defaults(func=cmd_train_attempt)


def cmd_train_attempt(args) -> int:
    from fdiff.training import attempt

    return attempt.run(
        attempt.AttemptOptions(
            config=args.config, data=args.data, out=args.out, command=args.command,
            retries=args.retries, log=args.log, snakemake_attempt=args.attempt,
        )
    )  # fmt: skip
