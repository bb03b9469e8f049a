"""The suite's error type, its one-line rendering and its exit codes, shared by every script."""

from __future__ import annotations

import sys

EXIT_OK = 0
EXIT_USAGE = 2  # bad input: a flag, a file, a dataset; argparse's own code for a bad flag
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM: 128 + SIGINT, as shells report it


class UsageError(Exception):
    """Bad input from the user: reported as one line, with the fix, and no traceback."""


def first_line(err: BaseException) -> str:
    """The first line of a library's error message (its type where it has none), for one-line errors."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def report_usage_error(err: BaseException) -> int:
    """Print ``error: ...`` on stderr and return the usage exit code."""
    print(f"error: {err}", file=sys.stderr)
    return EXIT_USAGE
