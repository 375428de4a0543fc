"""``fdiff <verb>``: thin command-line wrappers that the Snakemake rules call.

Each verb group lives in its own module with a ``register(subparsers)`` function; the handler
is stored as ``func`` on the parsed namespace. An :class:`~fdiff.errors.FdiffError` becomes a
single line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from fdiff import __version__
from fdiff.errors import FdiffError

# Verb groups, one module each (fdiff/cli/<name>.py). A module that is missing is skipped so
# that the package stays importable while a group is being written.
VERB_MODULES = ["core", "data", "evaluate", "baselines", "report", "bench", "attempt"]


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line that names the bad argument (``--help`` still has the usage)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="fdiff", description="fdiff: factorized diffusion models, the paper's verbs."
    )
    parser.add_argument("--version", action="version", version=f"fdiff {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name in VERB_MODULES:
        try:
            module = importlib.import_module(f"fdiff.cli.{name}")
        except ModuleNotFoundError as e:
            if e.name == f"fdiff.cli.{name}":
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    try:
        rc = args.func(args)
    except FdiffError as e:
        print(f"fdiff {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fdiff {args.verb}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
