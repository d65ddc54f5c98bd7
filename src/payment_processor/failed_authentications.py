"""A bound on what key guessing costs: failed authentications counted per source address (logic layer).

Every well-shaped key the authorizer looks up and refuses (unknown, revoked, expired) is one failure of the
request's source address, counted in the database per fixed window (migration 0019), so every authorizer
instance shares one count. Once an address has ``limit`` failures in a window, the instance that saw the last
of them refuses that address's credentials without looking them up until the window ends; any other instance
learns the same on its own first failure from the address (the count it writes answers it). So one address
costs at most ``limit`` + (authorizer instances - 1) key lookups a window, however many distinct keys it
tries, and a malformed credential costs none (it is refused before any lookup and not counted).

Why here and not in WAF: WAF sees the request, never the authorizer's answer, so it cannot tell a failed
authentication from a good one. The refusal is cached by API Gateway per credential *and* source address (the
authorizer's identity sources), so it never reaches the same key sent from another address.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from payment_processor import payment as payments

#: The most addresses one instance remembers as locked out (the oldest go first): distinct addresses cannot
#: grow it without bound, and one that is forgotten costs one more lookup to learn again.
MAX_REMEMBERED = 10_000
#: A deployment's bound: at least this many failures a window (a client with a typo must not be locked out
#: by the retries of one bad key, which API Gateway's cache answers anyway).
MIN_LIMIT = 5
WINDOWS_S = (60, 120, 300, 600, 900, 1800, 3600)


class FailureCounts(Protocol):
    """Where the failures are counted (KeyStore.note_failed_authentication)."""

    def note_failed_authentication(self, address: str, window_s: int) -> tuple[int, datetime]: ...


#: An IPv6 client is counted by its /64, the smallest network a provider hands out: one host holding a /64 would
#: otherwise have 2^64 addresses to spread its guesses over.
IPV6_PREFIX = 64


def source_address(value: object) -> str | None:
    """What the request's failures are counted under: its IPv4 address (``::ffff:1.2.3.4`` is ``1.2.3.4``), or
    its IPv6 /64 network (``2001:db8::/64``); None when it is not an address (never from API Gateway, which
    always sets ``requestContext.identity.sourceIp``)."""
    if not isinstance(value, str):
        return None
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is None:
            return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
        address = address.ipv4_mapped
    return str(address)


class FailedAuthentications:
    """The per-address bound of one authorizer instance: the shared counts, and the lockouts it has learned."""

    def __init__(
        self,
        counts: FailureCounts,
        *,
        limit: int,
        window_s: int,
        clock: Callable[[], datetime] = payments.utc_now,
        remembered: int = MAX_REMEMBERED,
    ) -> None:
        if limit < MIN_LIMIT or window_s not in WINDOWS_S:
            raise ValueError(f"the bound is at least {MIN_LIMIT} failures a window of {WINDOWS_S} seconds")
        self._counts = counts
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._remembered = remembered
        self._locked: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def locked_until(self, address: str) -> datetime | None:
        """When this address may be looked up again, if it is locked out now (no database round trip)."""
        with self._lock:
            until = self._locked.get(address)
            if until is None:
                return None
            if until <= self._clock():
                del self._locked[address]
                return None
            return until

    def note(self, address: str) -> datetime | None:
        """Count one failure of ``address``; when it brings the window to the limit, remember the lockout and
        answer when it ends."""
        failures, window_ends = self._counts.note_failed_authentication(address, self.window_s)
        if failures < self.limit:
            return None
        with self._lock:
            self._locked.pop(address, None)
            while len(self._locked) >= self._remembered:
                del self._locked[next(iter(self._locked))]
            self._locked[address] = window_ends
        return window_ends


def lockout_message(until: datetime) -> str:
    """What a locked-out address is told (nothing about any key)."""
    return (
        "too many failed authentications from this address; its API keys are not checked until "
        f"{payments.isoformat(until)}"
    )
