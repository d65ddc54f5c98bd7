"""Connection lifecycle rules of Database (with a fake connect) and the in-memory store's purge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import psycopg
import pytest

from payment_processor.config import Settings
from payment_processor.credentials import CredentialsUnavailable, DatabaseCredentials, StaticCredentials
from payment_processor.store.database import IDLE_CHECK_AFTER_S, Database
from payment_processor.store.interfaces import StoreUnavailable
from tests.fakes.memory_store import InMemoryStore

SETTINGS = Settings("arn", "db", 5432, "payments", "bucket", db_sslmode="verify-full", db_sslrootcert="/ca.pem")


class FakeConnection:
    def __init__(self, alive: bool = True) -> None:
        self.closed = False
        self.broken = False
        self.alive = alive
        self.checks = 0

    def execute(self, sql: str) -> None:
        self.checks += 1
        if not self.alive:
            raise psycopg.OperationalError("server closed the connection unexpectedly")

    def close(self) -> None:
        self.closed = True


class Connector:
    def __init__(self) -> None:
        self.opened: list[FakeConnection] = []
        self.kwargs: dict[str, Any] = {}

    def __call__(self, **kwargs: Any) -> FakeConnection:
        self.kwargs = kwargs
        self.opened.append(FakeConnection())
        return self.opened[-1]


#: What Database takes for psycopg.connect: a FakeConnection stands in for psycopg's connection (duck-typed).
Connect = Callable[..., psycopg.Connection[Any]]


def fake(connection: psycopg.Connection[Any]) -> FakeConnection:
    """A connection Database handed out, which the Connector made: a FakeConnection."""
    return cast(FakeConnection, connection)


def test_connection_is_reused_checked_after_idle_and_replaced_when_dead() -> None:
    now = [0.0]
    connect = Connector()
    database = Database(
        SETTINGS, StaticCredentials(DatabaseCredentials("u", "p")), connect=cast(Connect, connect), clock=lambda: now[0]
    )
    first = fake(database.connection())
    assert fake(database.connection()) is first and first.checks == 0
    assert connect.kwargs["sslmode"] == "verify-full" and connect.kwargs["sslrootcert"] == "/ca.pem"
    now[0] += IDLE_CHECK_AFTER_S + 1
    assert fake(database.connection()) is first and first.checks == 1
    first.alive = False
    now[0] += IDLE_CHECK_AFTER_S + 1
    second = fake(database.connection())
    assert second is not first and first.closed
    second.broken = True
    assert fake(database.connection()) is not second and len(connect.opened) == 3


def test_unreadable_secret_is_store_unavailable() -> None:
    class NoSecret(StaticCredentials):
        def get(self) -> DatabaseCredentials:
            raise CredentialsUnavailable("cannot read database secret arn")

    database = Database(SETTINGS, NoSecret(DatabaseCredentials("u", "p")), connect=cast(Connect, Connector()))
    with pytest.raises(StoreUnavailable, match="cannot read database secret"):
        database.connection()


def test_memory_store_purges_old_keys_and_fails_when_off() -> None:
    from payment_processor.connectors.simulated import SimulatedAcquirer
    from payment_processor.service import PaymentService
    from payment_processor.txlog import OutboxDelivery
    from payment_processor.validation import parse_payment_request
    from tests.fakes.memory_sink import MemorySink
    from tests.support import payment_body

    store = InMemoryStore()
    service = PaymentService(store, SimulatedAcquirer(), OutboxDelivery(store, MemorySink()))
    service.create_payment("merch_123", parse_payment_request(payment_body()), "a")
    assert service.purge_idempotency_keys(24) == 0
    store.age_keys(25)
    service.create_payment("merch_123", parse_payment_request(payment_body()), "b")
    assert service.purge_idempotency_keys(24) == 1 and store.key_count() == 1
    store.available = False
    report = service.deliver_pending()
    assert report.error is not None


def test_the_stores_column_lists_are_in_the_order_of_the_fields_they_are_read_into() -> None:
    """Payments and refunds are read positionally into their dataclasses (no dict per row): a column added to
    one and not the other, or in another place, fails here rather than shifting every value after it."""
    from dataclasses import fields

    from payment_processor.payment import Payment, Refund
    from payment_processor.store import postgres

    assert postgres._PAYMENT_COLUMNS.split(", ") == [f.name for f in fields(Payment)]
    assert postgres._REFUND_COLUMNS.split(", ") == [f.name for f in fields(Refund)]
