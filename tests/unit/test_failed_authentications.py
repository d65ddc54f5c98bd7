"""The per-address bound on failed authentications, over in-memory fakes with a clock the test moves."""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from payment_processor.apikeys import ApiKeys
from payment_processor.authorizer import authorize
from payment_processor.failed_authentications import FailedAuthentications, source_address
from payment_processor.store.interfaces import StoreUnavailable
from tests.fakes.memory_store import InMemoryKeyStore

PEPPER = b"p" * 32
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/GET/payments"
LIMIT, WINDOW_S = 5, 60


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, 10, 0, 5, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Counting(InMemoryKeyStore):
    """Counts the key lookups, the database load the bound is about."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.lookups = 0

    def find_key(self, secret_hash: bytes) -> Any:
        self.lookups += 1
        return super().find_key(secret_hash)


def world() -> tuple[ApiKeys, Counting, Clock]:
    clock = Clock()
    store = Counting(clock)
    return ApiKeys(store, lambda: PEPPER, mode="test", clock=clock), store, clock


def instance(store: Counting, clock: Clock) -> FailedAuthentications:
    """One authorizer instance's bound (each Lambda execution environment has its own)."""
    return FailedAuthentications(store, limit=LIMIT, window_s=WINDOW_S, clock=clock)


def guess() -> str:
    return "sk_test_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(43))


def ask(keys: ApiKeys, failures: FailedAuthentications, token: str, ip: str = "203.0.113.7") -> dict[str, Any]:
    event = {
        "type": "REQUEST",
        "methodArn": METHOD_ARN,
        "headers": {"Authorization": f"Bearer {token}"},
        "requestContext": {"identity": {"sourceIp": ip}},
    }
    return authorize(event, keys, failures=failures)


def code(answer: dict[str, Any]) -> str:
    return str(answer["context"].get("error_code") or answer["policyDocument"]["Statement"][0]["Effect"])


def test_n_distinct_guesses_cost_the_limit_in_lookups_and_no_more() -> None:
    keys, store, clock = world()
    failures = instance(store, clock)
    answers = [code(ask(keys, failures, guess())) for _ in range(500)]
    assert store.lookups == LIMIT
    assert answers == ["invalid_api_key"] * LIMIT + ["too_many_failed_authentications"] * (500 - LIMIT)


def test_the_lockout_covers_a_good_key_from_that_address_only_and_ends_with_the_window() -> None:
    keys, store, clock = world()
    failures = instance(store, clock)
    good = keys.create("merch_1").secret
    for _ in range(LIMIT):
        ask(keys, failures, guess())
    locked = ask(keys, failures, good)
    assert code(locked) == "too_many_failed_authentications"
    assert "until 2026-12-07T10:01:00" in locked["context"]["message"] and good not in str(locked)
    assert code(ask(keys, failures, good, ip="198.51.100.1")) == "Allow", "another address is not locked out"
    clock.now += timedelta(seconds=54)  # 10:00:59: the window still holds
    assert code(ask(keys, failures, good)) == "too_many_failed_authentications"
    clock.now += timedelta(seconds=1)  # 10:01:00: a new window
    assert code(ask(keys, failures, good)) == "Allow"
    assert code(ask(keys, failures, guess())) == "invalid_api_key", "the new window counts from zero"


def test_every_instance_shares_the_count_and_learns_the_lockout_in_one_more_lookup() -> None:
    keys, store, clock = world()
    instances = [instance(store, clock) for _ in range(4)]
    for i in range(200):
        ask(keys, instances[i % 4], guess())
    assert LIMIT <= store.lookups <= LIMIT + len(instances) - 1
    assert all(code(ask(keys, each, guess())) == "too_many_failed_authentications" for each in instances)


@pytest.mark.parametrize(
    "token", ["x", "sk_live_" + "a" * 43, "rk_test_short", "pk_test_" + "a" * 43, "sk_test_" + "a" * 42 + "-"]
)
def test_a_credential_refused_without_a_lookup_is_not_counted(token: str) -> None:
    keys, store, clock = world()
    failures = instance(store, clock)
    for _ in range(3 * LIMIT):
        assert code(ask(keys, failures, token)) == "invalid_api_key"
    assert store.lookups == 0 and store.failures == {}


def test_revoked_and_expired_keys_count_as_failures_too() -> None:
    keys, store, clock = world()
    failures = instance(store, clock)
    for _ in range(LIMIT):
        issued = keys.create("merch_1")
        keys.revoke(issued.key.id)
        assert code(ask(keys, failures, issued.secret)) == "invalid_api_key"
    assert code(ask(keys, failures, keys.create("merch_1").secret)) == "too_many_failed_authentications"


@pytest.mark.parametrize(
    ("given", "counted"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("2001:DB8::1", "2001:db8::/64"),
        ("2001:db8:0:0:ffff:ffff:ffff:fffe", "2001:db8::/64"),
        ("2001:db8:0:1::1", "2001:db8:0:1::/64"),
    ],
)
def test_one_client_is_one_count_however_its_address_is_written(given: str, counted: str) -> None:
    """An IPv6 client counts by its /64: one host may hold all of a /64's addresses."""
    assert source_address(given) == counted


def test_guesses_spread_over_one_ipv6_network_share_its_bound() -> None:
    keys, store, clock = world()
    failures = instance(store, clock)
    answers = [code(ask(keys, failures, guess(), ip=f"2001:db8::{n:x}")) for n in range(1, 4 * LIMIT)]
    assert store.lookups == LIMIT and answers.count("invalid_api_key") == LIMIT
    assert code(ask(keys, failures, guess(), ip="2001:db8:0:1::1")) == "invalid_api_key", "another /64 is not"


@pytest.mark.parametrize("given", [None, "", "localhost", "203.0.113.7\x00", 7, "203.0.113.7, 10.0.0.1"])
def test_no_address_is_no_count_and_no_lockout(given: Any) -> None:
    """API Gateway always sets the source address; without one there is nothing to count it under."""
    keys, store, clock = world()
    failures = instance(store, clock)
    for _ in range(2 * LIMIT):
        assert code(ask(keys, failures, guess(), ip=given)) == "invalid_api_key"
    assert store.failures == {} and source_address(given) is None


def test_a_failure_count_that_cannot_be_written_still_refuses_the_key() -> None:
    keys, store, clock = world()
    failures = instance(store, clock)

    def down(address: str, window_s: int) -> tuple[int, datetime]:
        raise StoreUnavailable("connection refused")

    store.note_failed_authentication = down  # type: ignore[method-assign]
    heard: list[tuple[str, str]] = []
    event = {
        "methodArn": METHOD_ARN,
        "headers": {"Authorization": f"Bearer {guess()}"},
        "requestContext": {"identity": {"sourceIp": "203.0.113.9"}},
    }
    answer = authorize(event, keys, failures=failures, unnoted=lambda subject, why: heard.append((subject, why)))
    assert code(answer) == "invalid_api_key" and heard == [("203.0.113.9", "connection refused")]


def test_the_instance_remembers_a_bounded_number_of_lockouts() -> None:
    keys, store, clock = world()
    failures = FailedAuthentications(store, limit=LIMIT, window_s=WINDOW_S, clock=clock, remembered=3)
    for n in range(10):
        for _ in range(LIMIT):
            ask(keys, failures, guess(), ip=f"203.0.113.{n}")
    remembered = [n for n in range(10) if failures.locked_until(f"203.0.113.{n}") is not None]
    assert remembered == [7, 8, 9]


@pytest.mark.parametrize(("limit", "window_s"), [(4, 60), (30, 59), (30, 7200), (30, 0)])
def test_a_bound_outside_what_is_allowed_is_refused(limit: int, window_s: int) -> None:
    _, store, clock = world()
    with pytest.raises(ValueError, match="at least 5 failures"):
        FailedAuthentications(store, limit=limit, window_s=window_s, clock=clock)
