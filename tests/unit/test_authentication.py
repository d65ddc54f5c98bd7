"""API keys, the authorizer and the processor's use of its answer, over in-memory fakes (no I/O)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from payment_processor.apikeys import (
    NOT_VALID,
    SECRET_LENGTH,
    ApiKeys,
    KeyError_,
    KeyNotFound,
    Refusal,
    hash_secret,
    secret_shape,
)
from payment_processor.authorizer import Unauthorized, authorize, bearer_token, stage_arn
from tests.fakes.memory_store import InMemoryKeyStore
from tests.support import body_of, payment_body, post_payment, proxy_event
from tests.unit.conftest import App

PEPPER = b"p" * 32
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/POST/payments"


def keys(mode: str = "test") -> tuple[ApiKeys, InMemoryKeyStore]:
    store = InMemoryKeyStore()
    ticks = itertools.count()
    clock = lambda: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=next(ticks))  # noqa: E731
    return ApiKeys(store, lambda: PEPPER, mode=mode, clock=clock), store


def request(token: str | None) -> dict[str, object]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": headers}


def test_a_created_key_is_shown_once_and_stored_only_as_a_keyed_hash() -> None:
    api_keys, store = keys()
    issued = api_keys.create("merch_1")
    assert issued.secret.startswith("sk_test_") and len(issued.secret) == len("sk_test_") + SECRET_LENGTH
    assert secret_shape(issued.secret) == (False, "test")
    assert issued.key.id.startswith("key_") and issued.key.hint == issued.secret[-4:]
    assert list(store.hashes) == [hash_secret(PEPPER, issued.secret)]
    stored = repr(store.keys) + repr(list(store.hashes))
    assert issued.secret not in stored and issued.secret[8:20] not in stored
    assert issued.secret not in repr(issued), "the secret is not in the issued key's repr either"
    assert issued.resource()["secret"] == issued.secret
    assert "secret" not in issued.key.resource() and issued.key.resource()["redacted_secret"].startswith("sk_test_...")


def test_two_keys_never_share_a_secret() -> None:
    api_keys, _ = keys()
    secrets = {api_keys.create("merch_1").secret for _ in range(50)}
    assert len(secrets) == 50


def test_authenticate_accepts_only_an_active_key_of_this_mode() -> None:
    api_keys, _ = keys()
    issued = api_keys.create("merch_1")
    readonly = api_keys.create("merch_1", read_only=True)
    assert api_keys.authenticate(issued.secret) == issued.key
    assert readonly.secret.startswith("rk_test_")
    found = api_keys.authenticate(readonly.secret)
    assert found is not None and found.read_only
    body = issued.secret.removeprefix("sk_test_")
    refused = [
        "",
        "sk_test_",
        issued.secret + "x",
        issued.secret[:-1],
        "rk_test_" + body,  # the same random part under another kind: a different secret
        "sk_live_" + body,  # a live-shaped key against a test deployment
        issued.secret.upper(),
    ]
    for token in refused:
        assert api_keys.authenticate(token) is None, token
    api_keys.revoke(issued.key.id)
    assert api_keys.authenticate(issued.secret) is None
    assert api_keys.authenticate(readonly.secret) is not None, "revoking one key leaves the others"


def test_live_keys_exist_only_where_the_deployment_is_live() -> None:
    live, _ = keys("live")
    issued = live.create("merch_1")
    assert issued.secret.startswith("sk_live_")
    assert live.authenticate(issued.secret) == issued.key
    test, _ = keys("test")
    assert test.authenticate(issued.secret) is None


def test_revoke_is_idempotent_and_unknown_keys_are_refused() -> None:
    api_keys, _ = keys()
    issued = api_keys.create("merch_1")
    first = api_keys.revoke(issued.key.id)
    again = api_keys.revoke(issued.key.id)
    assert first.revoked_at is not None and again.revoked_at == first.revoked_at
    with pytest.raises(KeyNotFound):
        api_keys.revoke("key_" + "a" * 26)
    with pytest.raises(KeyNotFound, match="key ids look like"):
        api_keys.revoke("../etc/passwd")


@pytest.mark.parametrize("merchant", ["", "a b", "x" * 65, "m;drop", "mé"])
def test_a_key_needs_a_well_formed_merchant_id(merchant: str) -> None:
    api_keys, store = keys()
    with pytest.raises(KeyError_):
        api_keys.create(merchant)
    assert store.keys == {}


def test_listing_is_newest_first_and_per_merchant() -> None:
    api_keys, _ = keys()
    a1, b1, a2 = api_keys.create("a"), api_keys.create("b"), api_keys.create("a")
    assert [k.id for k in api_keys.list("a")] == [a2.key.id, a1.key.id]
    assert {k.id for k in api_keys.list()} == {a1.key.id, b1.key.id, a2.key.id}


KEY = "sk_test_abc"


@pytest.mark.parametrize(
    ("event", "token"),
    [
        ({"headers": {"Authorization": f"Bearer {KEY}"}}, KEY),
        ({"headers": {"authorization": f"bearer {KEY}"}}, KEY),
        ({"headers": {"AUTHORIZATION": f"BEARER {KEY}"}}, KEY),
        (
            {"headers": {"Authorization": f"Bearer {KEY}"}, "multiValueHeaders": {"Authorization": [f"Bearer {KEY}"]}},
            KEY,
        ),
        # Not exactly one header: the finding's duplicate, case-variant pair, and its multi-value forms.
        ({"headers": {"authorization": f"Bearer {KEY}", "Authorization": "Bearer undefined"}}, None),
        (
            {
                "headers": {"Authorization": "Bearer undefined"},
                "multiValueHeaders": {"authorization": [f"Bearer {KEY}"], "Authorization": ["Bearer undefined"]},
            },
            None,
        ),
        (
            {
                "headers": {"Authorization": f"Bearer {KEY}"},
                "multiValueHeaders": {"Authorization": [f"Bearer {KEY}", f"Bearer {KEY}"]},
            },
            None,
        ),
        (
            {"headers": {"Authorization": f"Bearer {KEY}"}, "multiValueHeaders": {"Authorization": ["Bearer other"]}},
            None,
        ),
        # Not exactly ``Bearer <token>``: every other spelling is refused, not repaired.
        ({"headers": {"Authorization": f"bearer  {KEY}"}}, None),
        ({"headers": {"Authorization": f"Bearer {KEY} "}}, None),
        ({"headers": {"Authorization": f" Bearer {KEY}"}}, None),
        ({"headers": {"Authorization": f"Bearer\t{KEY}"}}, None),
        ({"headers": {"Authorization": f"Bearer {KEY}\u200b"}}, None),
        ({"headers": {"Authorization": f"Bearer {KEY}\x00"}}, None),
        ({"headers": {"Authorization": "Basic dXNlcjpwYXNz"}}, None),
        ({"headers": {"Authorization": "Bearer"}}, None),
        ({"headers": {"Authorization": "Bearer "}}, None),
        ({"headers": {"Authorization": "Bearer a b"}}, None),
        ({"headers": {"Authorization": ""}}, None),
        ({"headers": {"Authorization": None}}, None),
        ({"headers": {}}, None),
        ({"headers": None}, None),
        ({}, None),
    ],
)
def test_only_one_authorization_header_of_exactly_bearer_and_a_token_is_a_credential(
    event: dict[str, Any], token: str | None
) -> None:
    assert bearer_token(event) == token


def test_the_authorizer_allows_a_valid_key_for_the_whole_stage_with_its_merchant() -> None:
    api_keys, _ = keys()
    issued = api_keys.create("merch_1", read_only=True)
    answer = authorize(request(issued.secret), api_keys)
    assert answer["principalId"] == issued.key.id
    assert answer["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": stage_arn(METHOD_ARN)}
    ]
    assert answer["context"] == {"merchant_id": "merch_1", "key_id": issued.key.id, "read_only": "true"}
    assert stage_arn(METHOD_ARN) == "arn:aws:execute-api:us-east-1:123456789012:abc123/v1/*"


def test_the_authorizer_denies_an_unknown_key_and_refuses_a_missing_one() -> None:
    api_keys, _ = keys()
    answer = authorize(request("sk_test_" + "A" * SECRET_LENGTH), api_keys)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert answer["context"] == {"error_code": "invalid_api_key", "message": NOT_VALID}
    for missing in (None, "not a bearer"):
        event = request(None) if missing is None else {"methodArn": METHOD_ARN, "headers": {"Authorization": missing}}
        with pytest.raises(Unauthorized, match=r"^Unauthorized$"):
            authorize(event, api_keys)


def test_without_the_authorizers_context_the_processor_answers_401(app: App) -> None:
    response = app.api.handle(post_payment(payment_body(), merchant=None))
    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"] == "Bearer"
    assert body_of(response)["error"]["code"] == "authentication_required"
    assert app.store.payment_count() == 0
    get = app.api.handle(proxy_event("GET", "/payments/pay_" + "a" * 26, merchant=None))
    assert get["statusCode"] == 401


def test_a_read_only_key_reads_but_cannot_create(app: App) -> None:
    created = body_of(app.api.handle(post_payment(payment_body())))
    refused = app.api.handle(post_payment(payment_body(), key="k2", read_only=True))
    assert refused["statusCode"] == 403
    assert body_of(refused)["error"]["code"] == "insufficient_permissions"
    assert app.store.payment_count() == 1
    read = app.api.handle(proxy_event("GET", f"/payments/{created['id']}", read_only=True))
    assert read["statusCode"] == 200


def test_a_context_without_the_read_only_flag_is_read_only(app: App) -> None:
    """Fails closed: the authorizer always sets the flag, and a context that lacks it can read but not write."""
    event = post_payment(payment_body(), key="k3")
    del event["requestContext"]["authorizer"]["read_only"]
    refused = app.api.handle(event)
    assert refused["statusCode"] == 403 and app.store.payment_count() == 0
    get = proxy_event("GET", "/payments")
    del get["requestContext"]["authorizer"]["read_only"]
    assert app.api.handle(get)["statusCode"] == 200


def test_the_merchant_is_the_keys_never_the_bodys(app: App) -> None:
    response = app.api.handle(post_payment({**payment_body(), "merchant_id": "someone_else"}))
    assert response["statusCode"] == 422
    assert body_of(response)["error"]["field"] == "merchant_id"
    assert app.store.payment_count() == 0
    created = body_of(app.api.handle(post_payment(payment_body(), merchant="merch_a")))
    assert created["merchant_id"] == "merch_a"


def test_another_merchants_payment_is_exactly_as_not_found_as_an_unknown_id(app: App) -> None:
    created = body_of(app.api.handle(post_payment(payment_body(), merchant="merch_a")))
    theirs = app.api.handle(proxy_event("GET", f"/payments/{created['id']}", merchant="merch_b"))
    unknown = app.api.handle(proxy_event("GET", "/payments/pay_" + "b" * 26, merchant="merch_b"))
    malformed = app.api.handle(proxy_event("GET", "/payments/..%2F..%2Fetc%2Fpasswd", merchant="merch_b"))
    assert theirs["statusCode"] == unknown["statusCode"] == malformed["statusCode"] == 404
    assert body_of(theirs) == body_of(unknown) == body_of(malformed)
    assert created["id"] not in theirs["body"] and "passwd" not in malformed["body"], "no id is echoed"


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def clocked_keys() -> tuple[ApiKeys, InMemoryKeyStore, Clock]:
    store, clock = InMemoryKeyStore(), Clock()
    return ApiKeys(store, lambda: PEPPER, mode="test", clock=clock), store, clock


def test_a_key_that_expires_stops_at_its_time_and_says_so() -> None:
    api_keys, _, clock = clocked_keys()
    issued = api_keys.create("merch_1", expires_in=timedelta(days=90))
    assert issued.key.expires_at == clock.now + timedelta(days=90)
    assert issued.resource()["expires_at"] == "2026-05-30T09:30:00.000000Z"
    clock.now += timedelta(days=90) - timedelta(seconds=1)
    assert api_keys.check(issued.secret) == issued.key
    clock.now += timedelta(seconds=1)
    refused = api_keys.check(issued.secret)
    assert refused == Refusal(f"the API key {issued.key.id} expired at 2026-05-30T09:30:00.000000Z; create a new key")
    assert api_keys.authenticate(issued.secret) is None
    answer = authorize(request(issued.secret), api_keys)
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert answer["context"]["message"] == refused.reason and '"' not in refused.reason, "safe in the template"


@pytest.mark.parametrize("lifetime", [timedelta(minutes=59), timedelta(days=3 * 365 + 1), timedelta(0), -timedelta(1)])
def test_a_lifetime_outside_an_hour_to_three_years_is_refused_and_nothing_is_stored(lifetime: timedelta) -> None:
    api_keys, store, _ = clocked_keys()
    with pytest.raises(KeyError_, match="between 1 hour and 3 years"):
        api_keys.create("merch_1", expires_in=lifetime)
    assert store.keys == {}


def test_a_roll_issues_the_replacement_and_the_old_key_works_until_the_overlap_ends() -> None:
    api_keys, store, clock = clocked_keys()
    old = api_keys.create("merch_1", read_only=True, expires_in=timedelta(days=30))
    clock.now += timedelta(days=10)
    new, rolled = api_keys.roll(old.key.id, overlap=timedelta(hours=24))
    assert (new.key.merchant_id, new.key.read_only, new.key.mode) == ("merch_1", True, "test")
    assert new.secret.startswith("rk_test_") and new.secret != old.secret
    assert new.key.expires_at == clock.now + timedelta(days=30), "as long a life as the old key was given"
    assert (rolled.replaced_by, rolled.expires_at) == (new.key.id, clock.now + timedelta(hours=24))
    clock.now += timedelta(hours=23, minutes=59)
    assert api_keys.check(old.secret) == rolled and api_keys.check(new.secret) == new.key
    clock.now += timedelta(minutes=1)
    assert api_keys.check(old.secret) == Refusal(
        f"the API key {old.key.id} expired at {payments_time(rolled.expires_at)}; use {new.key.id}, which replaced it"
    )
    assert api_keys.check(new.secret) == new.key
    # Rolled once: rolling it again, or rolling a revoked key, is refused and issues nothing.
    count = len(store.keys)
    with pytest.raises(KeyError_, match="already rolled"):
        api_keys.roll(old.key.id, overlap=timedelta(0))
    api_keys.revoke(new.key.id)
    with pytest.raises(KeyError_, match="revoked"):
        api_keys.roll(new.key.id, overlap=timedelta(0))
    with pytest.raises(KeyNotFound):
        api_keys.roll("key_" + "a" * 26, overlap=timedelta(0))
    with pytest.raises(KeyError_, match="between 0 and 7 days"):
        api_keys.roll(old.key.id, overlap=timedelta(days=8))
    assert len(store.keys) == count


def test_a_roll_never_lengthens_the_old_keys_life_and_zero_overlap_ends_it_now() -> None:
    api_keys, _, clock = clocked_keys()
    short = api_keys.create("merch_1", expires_in=timedelta(hours=2))
    _, rolled = api_keys.roll(short.key.id, overlap=timedelta(days=7))
    assert rolled.expires_at == short.key.expires_at
    forever = api_keys.create("merch_1")
    new, ended = api_keys.roll(forever.key.id, overlap=timedelta(0))
    assert ended.expires_at == clock.now and new.key.expires_at is None
    assert isinstance(api_keys.check(forever.secret), Refusal)


def test_the_hour_of_use_is_written_at_most_once_an_hour() -> None:
    api_keys, store, clock = clocked_keys()
    issued = api_keys.create("merch_1")
    writes: list[datetime] = []
    note = store.note_key_use

    def noted(key_id: str, hour: datetime) -> None:
        writes.append(hour)
        note(key_id, hour)

    store.note_key_use = noted  # type: ignore[method-assign]  # a spy on this one store's writes
    for _ in range(4):  # 09:30, 09:40, 09:50, 10:00
        authorize(request(issued.secret), api_keys)
        clock.now += timedelta(minutes=10)
    assert writes == [datetime(2026, 3, 1, 9, tzinfo=UTC), datetime(2026, 3, 1, 10, tzinfo=UTC)]
    assert store.keys[issued.key.id].resource()["last_used_at"] == "2026-03-01T10:00:00.000000Z"


def test_a_failed_hour_of_use_write_still_allows_the_key() -> None:
    from payment_processor.store.interfaces import StoreUnavailable

    api_keys, store, _ = clocked_keys()
    issued = api_keys.create("merch_1")

    def down(key_id: str, hour: datetime) -> None:
        raise StoreUnavailable("connection refused")

    store.note_key_use = down  # type: ignore[method-assign]
    heard: list[tuple[str, str]] = []
    answer = authorize(request(issued.secret), api_keys, unnoted=lambda key_id, reason: heard.append((key_id, reason)))
    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert heard == [(issued.key.id, "connection refused")]


def payments_time(moment: datetime | None) -> str:
    from payment_processor.payment import isoformat

    assert moment is not None
    return isoformat(moment)
