"""When a failed delivery is tried again, and when an endpoint is given up on.

The delays are the Standard Webhooks specification's suggested schedule (about three days in all): 5 s,
5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h after each failure. Each is spread by up to a tenth either
way, so the deliveries that failed together (a receiver's outage) do not all come back in the same second.
A ``Retry-After`` the receiver sent is honoured when it asks for more time, up to the next step's delay: a
receiver cannot push its retries past the schedule, nor pull them closer than the schedule allows.
"""

from __future__ import annotations

import random
from collections.abc import Callable

#: Seconds to wait after the 1st, 2nd, ... failed attempt; after the last, the event is not tried again.
RETRY_DELAYS_S: tuple[int, ...] = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
#: Attempts in all: the first and one per delay.
MAX_ATTEMPTS = len(RETRY_DELAYS_S) + 1
#: An endpoint whose every attempt failed for this long is disabled (the merchant is told by an event).
DISABLE_AFTER_S = 3 * 24 * 3600
#: The spread of each delay, as a fraction of it either way.
JITTER = 0.1


def retry_delay_s(
    failed_attempts: int,
    *,
    retry_after_s: float | None = None,
    uniform: Callable[[float, float], float] = random.uniform,
) -> float | None:
    """Seconds until the next attempt after ``failed_attempts`` failures (1 after the first), or None when the
    schedule is over. ``retry_after_s`` is the receiver's ``Retry-After``; ``uniform`` is injectable for tests."""
    if failed_attempts < 1:
        raise ValueError("a retry follows at least one failed attempt")
    if failed_attempts > len(RETRY_DELAYS_S):
        return None
    base = RETRY_DELAYS_S[failed_attempts - 1]
    delay = base * (1 + uniform(-JITTER, JITTER))
    if retry_after_s is not None and retry_after_s > delay:
        # Honoured up to the next step: a receiver asking for a week still gets its next try on schedule.
        ceiling = RETRY_DELAYS_S[failed_attempts] if failed_attempts < len(RETRY_DELAYS_S) else base
        delay = min(retry_after_s, ceiling)
    return delay
