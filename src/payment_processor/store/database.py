"""One PostgreSQL connection, reused across Lambda invocations (data access).

A Lambda container handles one request at a time, so one connection per container is right; it is
opened lazily, checked after idling (RDS and proxies drop idle connections), reopened when broken,
and re-authenticated once with a fresh secret when the password was rotated.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from payment_processor.config import Settings
from payment_processor.credentials import CredentialsProvider, CredentialsUnavailable
from payment_processor.store.interfaces import StoreUnavailable

#: A connection idle longer than this is checked with a round trip before use.
IDLE_CHECK_AFTER_S = 30.0
#: libpq's TCP keepalive and user-timeout settings (see _open_with).
KEEPALIVE = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}


class Database:
    """Owns the connection and how to (re)open it."""

    def __init__(
        self,
        settings: Settings,
        credentials: CredentialsProvider,
        *,
        connect: Callable[..., psycopg.Connection[Any]] = psycopg.connect,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
        self._connect = connect
        self._clock = clock
        self._conn: psycopg.Connection[Any] | None = None
        self._last_used = 0.0

    def connection(self) -> psycopg.Connection[Any]:
        """A live connection in autocommit mode (transactions are explicit); StoreUnavailable if none."""
        conn = self._conn
        if conn is not None and (conn.closed or conn.broken):
            self.discard()
            conn = None
        if conn is not None and self._clock() - self._last_used > IDLE_CHECK_AFTER_S:
            try:
                conn.execute("SELECT 1")
            except psycopg.Error:
                self.discard()
                conn = None
        if conn is None:
            conn = self._open()
            self._conn = conn
        self._last_used = self._clock()
        return conn

    def discard(self) -> None:
        """Close and forget the connection; the next call opens a new one."""
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):  # closing a dead socket may complain
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Close the connection (end of a process, tests)."""
        self.discard()

    def _open(self) -> psycopg.Connection[Any]:
        try:
            try:
                return self._open_with(self._credentials.get())
            except psycopg.OperationalError as exc:
                if not _is_bad_password(exc):
                    raise
            # The secret was rotated since we cached it: read it again, once.
            self._credentials.invalidate()
            return self._open_with(self._credentials.get())
        except psycopg.Error as exc:
            raise StoreUnavailable(_describe(exc)) from None
        except CredentialsUnavailable as exc:
            raise StoreUnavailable(str(exc)) from None

    def _open_with(self, credentials: Any) -> psycopg.Connection[Any]:
        s = self._settings
        kwargs: dict[str, Any] = {
            "host": s.db_host,
            "port": s.db_port,
            "dbname": s.db_name,
            "user": credentials.username,
            "password": credentials.password,
            "sslmode": s.db_sslmode,
            "connect_timeout": s.db_connect_timeout_s,
            "application_name": "payment-processor",
            # No startup `options` (RDS Proxy refuses them): the statement timeout is the login role's own
            # setting (migration 0006). No server-side prepared statements either: psycopg prepares a query
            # after 5 runs, and a prepared statement pins the client to one RDS Proxy database connection.
            "prepare_threshold": None,
            "autocommit": True,
            # A half-open socket (a failover, a NAT that forgot us) must fail in seconds, not hang a
            # request until the function's timeout: probe an idle connection after 30 s, every 5 s, give
            # up after 3 missed probes; and give up on data the server never acknowledges after 10 s.
            **KEEPALIVE,
        }
        if s.db_sslrootcert:
            kwargs["sslrootcert"] = s.db_sslrootcert
        return self._connect(**kwargs)


def _is_bad_password(exc: psycopg.OperationalError) -> bool:
    # libpq reports a failed login as a connection error without SQLSTATE 28P01 on the exception,
    # so the server's message is the reliable signal ("password authentication failed for user").
    return isinstance(exc, pg_errors.InvalidPassword) or "password authentication failed" in str(exc)


def _describe(exc: psycopg.Error) -> str:
    # Only connection failures come here (statements' errors never do): libpq's first line names the host,
    # the port and why (refused, timeout, "certificate verify failed", "does not match host name"), never
    # the password or anything a request sent, and the operator needs that reason whole.
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return f"database unavailable: {first_line}"
