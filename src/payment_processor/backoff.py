"""How long to wait before trying again after a failure: one policy for every retry the platform makes on
its own (the acquirer asked again by the job, a transaction-log event put again)."""

from __future__ import annotations

#: The longest wait between two attempts.
MAX_BACKOFF_S = 300.0


def backoff_s(attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failure: 2, 4, 8, ... up to MAX_BACKOFF_S."""
    return min(float(2**attempts), MAX_BACKOFF_S)
