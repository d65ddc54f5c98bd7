"""The ``payments`` command's errors: one base, :class:`PaymentsError`, whose ``exit_code`` is the status
the command exits with after printing the error's message (one line, with what to do) on stderr.

A module of the command raises a subclass of it for every failure a user can act on; anything else
that escapes a command is a bug, reported as a crash (exit status 70, ``--traceback`` shows it).
"""

from __future__ import annotations

from payments_cli.commands import EXIT_FAILED


class PaymentsError(Exception):
    """A failure the user can act on. ``exit_code``: 1 the job failed (the default), 2 unusable input."""

    #: The exit status; a subclass may set its own, one instance may override it.
    exit_code: int = EXIT_FAILED

    def __init__(self, message: str = "", exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class ServeError(PaymentsError):
    """The API cannot be served; the message says why and what to do."""
