"""The error types a user can act on. A leaf module: it imports nothing of the harness.

Every ``UserError`` reaches the terminal as one line and exit code 2, never a traceback:
bad input, a results folder that is not what it claims, a folder another sweep holds.
"""

from __future__ import annotations


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
