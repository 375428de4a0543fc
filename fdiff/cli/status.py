"""``fdiff status RESULTS_DIR``: every run of a plan, its step, ETA, attempts and verdict."""

from __future__ import annotations

import argparse
import json

from fdiff.cli.args import input_dir


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "status",
        help="where a plan stands: every run directory of RESULTS_DIR (no SLURM, no torch)",
    )
    p.add_argument("results", type=input_dir, metavar="RESULTS_DIR", help="e.g. results/demo")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_status)


def cmd_status(args) -> int:
    from fdiff.plan.status import plan_status, table

    status = plan_status(args.results)
    print(json.dumps(status.to_dict(), indent=2) if args.json else table(status))
    return 0
