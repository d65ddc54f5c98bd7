"""Deadlines: when no further work may start in this invocation (logic layer, no I/O).

An ``Expired`` is a function answering True once what would start now might not finish before the
function's deadline. The handler makes one per invocation from ``context.get_remaining_time_in_millis()``
and passes it down (API → service → outbox delivery), so every S3 call is started only while there is
time for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Expired = Callable[[], bool]


def never() -> bool:
    """No deadline (tests, and callers that have none)."""
    return False


class Deadline:
    """An ``Expired`` that can also say how long is left: an acquirer call sets its network timeout from it,
    so an answer that would arrive too late to be committed is not waited for."""

    def __init__(self, stop_at: float) -> None:
        self._stop_at = stop_at

    def __call__(self) -> bool:
        return time.monotonic() >= self._stop_at

    def remaining_s(self) -> float:
        """Seconds until expired (0 once it is)."""
        return max(0.0, self._stop_at - time.monotonic())


def deadline(context: Any, *, reserve_s: float, default_s: float = 60.0) -> Deadline:
    """``expired()`` for this invocation: True once less than ``reserve_s`` is left before the function's
    deadline (``context.get_remaining_time_in_millis()``), so what is started still finishes in time.
    Without a Lambda context (a command line run) the budget is ``default_s``."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    budget_s = remaining() / 1000 if callable(remaining) else default_s
    return Deadline(time.monotonic() + budget_s - reserve_s)


def time_left_s(expired: Expired, *, at_most: float) -> float:
    """How long a call started now may take: what ``expired`` has left, capped at ``at_most`` (all of it for
    an ``Expired`` that cannot say, such as :func:`never`)."""
    remaining = getattr(expired, "remaining_s", None)
    return min(at_most, remaining()) if callable(remaining) else at_most
