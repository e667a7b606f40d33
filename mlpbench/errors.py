"""The error types a user can act on. A leaf module: it imports nothing of the harness.

Every ``UserError`` reaches the terminal as one line and exit code 2, never a traceback:
bad input, a results folder that is not what it claims, a folder another sweep holds.
"""

from __future__ import annotations

from collections.abc import Iterable


class UserError(Exception):
    """Bad input or state the user can fix: one line, exit code 2."""


class ResultsError(UserError):
    """A results folder whose files are missing, of another schema, or hold a bad row."""


class BusyError(UserError):
    """The results folder is locked by another running sweep."""


class Interrupted(Exception):
    """The sweep was stopped by a signal; ``code`` is the exit status (130 SIGINT, 143 SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by signal {signum}")
        self.signum = signum
        self.code = 128 + signum


def did_you_mean(value: object, allowed: Iterable[object]) -> str:
    """`` (did you mean 'batch_size'?)`` for a near miss among ``allowed``, else ""."""
    import difflib

    names = [str(a) for a in allowed]
    close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.7)
    return f" (did you mean {close[0]!r}?)" if close else ""
