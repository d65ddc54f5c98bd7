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


def deadline(context: Any, *, reserve_s: float, default_s: float = 60.0) -> Expired:
    """``expired()`` for this invocation: True once less than ``reserve_s`` is left before the function's
    deadline (``context.get_remaining_time_in_millis()``), so what is started still finishes in time.
    Without a Lambda context (a command line run) the budget is ``default_s``."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    budget_s = remaining() / 1000 if callable(remaining) else default_s
    stop_at = time.monotonic() + budget_s - reserve_s
    return lambda: time.monotonic() >= stop_at
