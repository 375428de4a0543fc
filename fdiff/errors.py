"""The one exception type that the command line turns into a one-line error."""

from __future__ import annotations


class FdiffError(Exception):
    """A user-facing error: bad input, a missing file, a mismatched checkpoint.

    The message must name the culprit (file, key or value) and what was expected; the command
    line prints it on one line and exits with status 2. ``arg`` names the library parameter
    whose value is refused (``t``, ``start``...): library code does not know the command line,
    so the CLI maps it to its flag (``argument --t: ...``), as argparse words its own errors.
    """

    def __init__(self, message: str, *, arg: str | None = None):
        super().__init__(message)
        self.message, self.arg = message, arg

    def __str__(self) -> str:
        return f"{self.arg}: {self.message}" if self.arg else self.message
