"""One webhook delivery attempt: an HTTP POST to a merchant's endpoint, classified for its record.

The attempt connects only to an address :mod:`addresses` checked (resolved once, here: no second lookup for
a rebinding DNS answer to change), sends the Standard Webhooks headers, and follows no redirect. Its whole
time is bounded: at ``timeout_s`` the socket is shut down from a timer, so neither a slow connect, a TLS
handshake that never ends, nor a receiver trickling its headers a byte at a time holds the sender longer.
At most 1 KiB of the response body is read, and only a short excerpt of it is kept, with anything shaped
like a card number or a secret taken out.

Success is any 2xx. Otherwise the attempt says what went wrong, as ``GET /webhook_endpoints/{id}/deliveries``
shows it: the receiver's status code (a non-2xx answer, ``error`` null), or one of :data:`ERRORS`.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from payment_processor.screening import contains_card_number
from payment_processor.webhooks.addresses import (
    Reach,
    RefusedAddress,
    Resolver,
    Target,
    parse_url,
    resolve,
)

#: What an attempt without a usable answer records as its ``error``.
ERRORS = ("timeout", "connection_failed", "tls", "redirect", "refused_address", "invalid_response")
#: An answer later than this is a failure (Standard Webhooks, Stripe: a receiver answers first, works later).
TIMEOUT_S = 10.0
#: The most of a response body ever read.
MAX_BODY_READ = 1024
#: The most of it kept with the attempt.
EXCERPT_CHARS = 200
USER_AGENT = "payments-webhooks/1"

_SECRET_SHAPED = re.compile(r"(whsec_|sk_|pk_|rk_|Bearer\s+)\S+", re.IGNORECASE)


@dataclass(frozen=True)
class Attempt:
    """What one delivery attempt found."""

    status_code: int | None
    error: str | None
    latency_ms: int
    #: The receiver's ``Retry-After``, in seconds, when it sent one.
    retry_after_s: float | None = None
    #: The start of the response body, redacted (empty when there was none).
    excerpt: str = ""
    #: Why, in words, for the operator's log (never shown to another merchant: it names only their URL's host).
    detail: str = ""

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300

    @property
    def gone(self) -> bool:
        """``410 Gone``: the receiver says the endpoint is no more (it is disabled at once)."""
        return self.error is None and self.status_code == 410


def send(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    reach: Reach,
    timeout_s: float = TIMEOUT_S,
    resolver: Resolver = socket.getaddrinfo,
    tls: ssl.SSLContext | None = None,
) -> Attempt:
    """POST ``body`` with ``headers`` to ``url``; never raises for anything the receiver or the network does."""
    started = time.monotonic()
    deadline = _Deadline(timeout_s)

    def ended(status: int | None, error: str | None, detail: str, **more: object) -> Attempt:
        deadline.cancel()
        latency = round((time.monotonic() - started) * 1000)
        return Attempt(status, error, latency, detail=detail, **more)  # type: ignore[arg-type]

    try:
        target = parse_url(url, reach)
    except ValueError as exc:  # the URL's form: checked when the endpoint was saved, so only if rules tightened
        return ended(None, "refused_address", str(exc))
    try:
        addresses = _within(deadline, lambda: resolve(target, reach, resolver))
    except RefusedAddress as exc:
        return ended(None, "refused_address", str(exc))
    except TimeoutError:
        return ended(None, "timeout", f"{target.host} did not resolve within {timeout_s:g} s")
    except (OSError, ValueError, UnicodeError) as exc:
        return ended(None, "connection_failed", f"{target.host} did not resolve: {exc}")
    connection = _PinnedConnection(target, str(addresses[0]), deadline, tls)
    try:
        connection.request("POST", target.path, body=body, headers=_request_headers(headers, len(body)))
        response = connection.getresponse()
        status = response.status
        if 300 <= status < 400:
            return ended(status, "redirect", f"answered {status}; redirects are not followed")
        # Into a buffer of fixed size: read(n) can be made to read without bound (a chunk size of -1 on
        # CPython 3.11 reads to the end of the stream).
        buffer = bytearray(MAX_BODY_READ)
        excerpt = _excerpt(bytes(buffer[: response.readinto(buffer)]))
        if deadline.fired:  # the answer was cut off at the deadline (a receiver trickling it): not in time
            return ended(None, "timeout", f"no whole answer within {timeout_s:g} s")
        return ended(status, None, f"answered {status}", retry_after_s=_retry_after(response), excerpt=excerpt)
    except ssl.SSLError as exc:  # before OSError (an SSLError is one); a certificate that does not verify too
        kind = "timeout" if deadline.fired else "tls"
        return ended(None, kind, f"TLS with {target.host} failed: {exc.reason or exc}")
    except http.client.HTTPException as exc:
        kind = "timeout" if deadline.fired else "invalid_response"
        return ended(None, kind, f"not an HTTP answer: {type(exc).__name__}")
    except TimeoutError:
        return ended(None, "timeout", f"no answer within {timeout_s:g} s")
    except OSError as exc:
        kind = "timeout" if deadline.fired else "connection_failed"
        return ended(None, kind, f"{type(exc).__name__}: {exc.strerror or exc}")
    finally:
        deadline.cancel()
        connection.close()


class _Deadline:
    """Shuts the attempt's socket down when its time is up, whatever call it is blocked in."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._ends = time.monotonic() + timeout_s
        self._socket: socket.socket | None = None
        self._lock = threading.Lock()
        self.fired = False
        self._timer = threading.Timer(timeout_s, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        return max(self._ends - time.monotonic(), 0.001)

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._socket = sock
            if self.fired:
                self._shut()

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            self._shut()

    def _shut(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):  # already closed: nothing left to stop
                self._socket.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


class _PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to one checked address, speaking to the URL's host name (``Host``, TLS SNI and
    certificate check), so DNS is never asked again between the check and the connect."""

    def __init__(self, target: Target, address: str, deadline: _Deadline, tls: ssl.SSLContext | None) -> None:
        super().__init__(target.host, target.port, timeout=deadline.timeout_s)
        self._target = target
        self._address = address
        self._deadline = deadline
        self._tls = tls

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self._target.port), timeout=self._deadline.left())
        self._deadline.watch(sock)
        if self._target.scheme == "https":
            context = self._tls or ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=self._target.host)
            self._deadline.watch(sock)
        sock.settimeout(self._deadline.left())
        self.sock = sock


def _request_headers(signed: dict[str, str], length: int) -> dict[str, str]:
    return {
        **signed,
        "Content-Type": "application/json",
        "Content-Length": str(length),
        "User-Agent": USER_AGENT,
        "Connection": "close",
    }


def _excerpt(raw: bytes) -> str:
    text = "".join(c if c.isprintable() else " " for c in raw.decode("utf-8", errors="replace"))
    excerpt = _SECRET_SHAPED.sub(r"\1[redacted]", text)[:EXCERPT_CHARS]
    # Both: cutting can make a card number of what the whole text shows is not one (the end of an order number,
    # a UUID's tail), and the whole text can hold one the cut leaves half of.
    if contains_card_number(text) or contains_card_number(excerpt):
        return "[redacted: the response held a card number]"
    return excerpt


T = TypeVar("T")


def _within(deadline: _Deadline, work: Callable[[], T]) -> T:
    """``work()`` (a DNS lookup: the timer has no socket to shut yet) given only the attempt's time left;
    TimeoutError past it. The lookup left running ends on its own (the resolver's own timeouts)."""
    done: list[T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(work())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller as it was raised
            failed.append(exc)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(deadline.left())
    if failed:
        raise failed[0]
    if not done:
        raise TimeoutError
    return done[0]


#: The longest ``Retry-After`` kept as sent (a day: the schedule's longest step); longer ones are cut to it.
MAX_RETRY_AFTER_S = 86400.0


def _retry_after(response: http.client.HTTPResponse) -> float | None:
    """``Retry-After`` as seconds (delta-seconds or an HTTP date, at most a day); None when absent or unreadable."""
    value = (response.getheader("Retry-After") or "").strip()
    if not value:
        return None
    if re.fullmatch(r"[0-9]{1,12}", value):  # ASCII digits only: str.isdigit() also takes "²", float() does not
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = parsedate_to_datetime(value)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    except (TypeError, ValueError, OverflowError):  # OverflowError: a date in year 10^20
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)
