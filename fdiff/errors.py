"""The one exception type that the command line turns into a one-line error."""


class FdiffError(Exception):
    """A user-facing error: bad input, a missing file, a mismatched checkpoint.

    The message must name the culprit (file, key or value) and what was expected; the command
    line prints it on one line and exits with status 2.
    """
