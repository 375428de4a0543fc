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
from fdiff.cli.args import real
from fdiff.errors import FdiffError

# Verb groups, one module each (fdiff/cli/<name>.py). A module that is missing is skipped so
# that the package stays importable while a group is being written.
VERB_MODULES = ["core", "data", "evaluate", "baselines", "report", "bench", "status", "attempt"]


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
    parser.add_argument(
        "--progress-every",
        type=real(0.0),
        metavar="SECONDS",
        help="when stderr is not a terminal, one progress line every SECONDS "
        "(default: $FDIFF_PROGRESS_EVERY, else 60)",
    )
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


def _flag(parser: argparse.ArgumentParser, verb: str, dest: str | None) -> str | None:
    """The verb's option for a library parameter (``start`` -> ``--start``), if it has one."""
    if dest is None:
        return None
    todo = [a.choices[verb] for a in parser._actions if isinstance(a.choices, dict)]
    while todo:  # the verb's parser and any nested ones (``fdiff figure <name>``)
        p = todo.pop()
        for a in p._actions:
            if isinstance(a.choices, dict):
                todo += a.choices.values()
            elif a.dest == dest and a.option_strings:
                return max(a.option_strings, key=len)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from fdiff import progress

    if args.progress_every is not None:
        if args.progress_every < 0:
            parser.error(f"--progress-every {args.progress_every}: expected seconds >= 0")
        progress.set_every(args.progress_every)
    # dated: an attempt's log is read days later, and a run's attempts span weeks
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
    )
    try:
        rc = args.func(args)
    except FdiffError as e:
        flag = _flag(parser, args.verb, e.arg)
        message = f"argument {flag}: {e.message}" if flag else str(e)
        print(f"fdiff {args.verb}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fdiff {args.verb}: interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
