"""Capture, cancel, refunds, listing and the events feed, through the real Api and service over in-memory
fakes. The same transitions run over HTTP against PostgreSQL in tests/functional/test_merchant_api.py."""

from __future__ import annotations

import io
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from payment_processor.api import Api
from payment_processor.connectors.base import Authorization
from payment_processor.connectors.outcomes import FollowUpOutcome, Unknown
from payment_processor.connectors.simulated import SimulatedAcquirer
from payment_processor.payment import utc_now
from payment_processor.service import PaymentService
from payment_processor.txlog import OutboxDelivery
from tests.fakes.memory_sink import MemorySink
from tests.fakes.memory_store import InMemoryStore
from tests.support import body_of, payment_body, post, post_payment, proxy_event
from tests.unit.conftest import App

OTHER = "merch_other"


def authorize(app: App, key: str = "auth", **overrides: Any) -> dict[str, Any]:
    """A manual-capture payment, authorized (``requires_capture``)."""
    response = app.api.handle(post_payment(payment_body(capture_method="manual", **overrides), key=key))
    assert response["statusCode"] == 201, response["body"]
    return body_of(response)  # type: ignore[no-any-return]


def charge(app: App, key: str = "charge", **overrides: Any) -> dict[str, Any]:
    response = app.api.handle(post_payment(payment_body(**overrides), key=key))
    assert response["statusCode"] == 201, response["body"]
    return body_of(response)  # type: ignore[no-any-return]


def get(app: App, path: str, merchant: str = "merch_123", **query: str) -> dict[str, Any]:
    return app.api.handle(proxy_event("GET", path, merchant=merchant, query=query or None))


def test_manual_payment_is_authorized_then_fully_captured(app: App) -> None:
    payment = authorize(app)
    assert payment["status"] == "requires_capture" and payment["amount_captured"] == 0
    assert payment["capture_method"] == "manual" and payment["authorization_code"]
    captured = app.api.handle(post(f"/payments/{payment['id']}/capture", key="cap"))
    assert captured["statusCode"] == 200
    assert body_of(captured)["status"] == "succeeded" and body_of(captured)["amount_captured"] == 1999
    assert body_of(get(app, f"/payments/{payment['id']}"))["status"] == "succeeded"
    objects = sorted(key.rsplit("/", 1)[1] for key in app.sink.objects if payment["id"] in key)
    assert objects == [
        "0001-payment.processing.json",
        "0002-payment.requires_capture.json",
        "0003-payment.succeeded.json",
    ]


def test_partial_capture_releases_the_rest(app: App) -> None:
    payment = authorize(app, amount=5000)
    captured = app.api.handle(post(f"/payments/{payment['id']}/capture", {"amount": 1200}, key="cap"))
    assert captured["statusCode"] == 200
    assert body_of(captured)["amount_captured"] == 1200 and body_of(captured)["status"] == "succeeded"
    # A second capture is a state conflict: the rest of the authorization was released.
    again = app.api.handle(post(f"/payments/{payment['id']}/capture", {"amount": 100}, key="cap-2"))
    assert again["statusCode"] == 409
    assert body_of(again)["error"]["code"] == "payment_state_conflict"
    assert body_of(again)["error"]["payment_status"] == "succeeded"
    assert "succeeded" in body_of(again)["error"]["message"]


def test_capture_over_the_authorized_amount_is_422_and_records_nothing(app: App) -> None:
    payment = authorize(app, amount=500)
    response = app.api.handle(post(f"/payments/{payment['id']}/capture", {"amount": 501}, key="cap"))
    assert response["statusCode"] == 422 and body_of(response)["error"]["code"] == "amount_exceeds_authorized"
    assert body_of(get(app, f"/payments/{payment['id']}"))["status"] == "requires_capture"
    # The key was not consumed: it can capture now.
    assert app.api.handle(post(f"/payments/{payment['id']}/capture", {"amount": 500}, key="cap"))["statusCode"] == 200


@pytest.mark.parametrize("route", ["capture", "refunds"])
def test_a_null_amount_is_422_and_moves_nothing(app: App, route: str) -> None:
    payment = authorize(app) if route == "capture" else charge(app)
    refused = app.api.handle(post(f"/payments/{payment['id']}/{route}", {"amount": None}, key="null"))
    assert refused["statusCode"] == 422, refused["body"]
    assert (body_of(refused)["error"]["code"], body_of(refused)["error"]["field"]) == ("validation_error", "amount")
    after = body_of(get(app, f"/payments/{payment['id']}"))
    assert (after["status"], after["amount_captured"], after["amount_refunded"]) == (
        payment["status"],
        payment["amount_captured"],
        0,
    )
    # Nothing was kept under the key either: the same key with the amount left out is a new request.
    whole = app.api.handle(post(f"/payments/{payment['id']}/{route}", None, key="null"))
    assert whole["statusCode"] in (200, 201), whole["body"]


def test_cancel_before_capture_and_conflicts_after(app: App) -> None:
    payment = authorize(app)
    canceled = app.api.handle(post(f"/payments/{payment['id']}/cancel", {"cancellation_reason": "duplicate"}))
    assert canceled["statusCode"] == 200
    assert body_of(canceled)["status"] == "canceled" and body_of(canceled)["cancellation_reason"] == "duplicate"
    for action in ("capture", "cancel"):
        response = app.api.handle(post(f"/payments/{payment['id']}/{action}", key=f"late-{action}"))
        assert response["statusCode"] == 409 and body_of(response)["error"]["payment_status"] == "canceled"
    refund = app.api.handle(post(f"/payments/{payment['id']}/refunds", key="late-refund"))
    assert refund["statusCode"] == 409


def test_an_automatic_payment_cannot_be_captured_or_canceled(app: App) -> None:
    payment = charge(app)
    for action in ("capture", "cancel"):
        response = app.api.handle(post(f"/payments/{payment['id']}/{action}", key=action))
        assert response["statusCode"] == 409
        assert body_of(response)["error"]["payment_status"] == "succeeded"


def test_follow_ups_replay_and_refuse_another_body_under_the_same_key(app: App) -> None:
    payment = authorize(app, amount=800)
    first = app.api.handle(post(f"/payments/{payment['id']}/capture", {"amount": 300}, key="k"))
    replay = app.api.handle(post(f"/payments/{payment['id']}/capture", {"amount": 300}, key="k"))
    assert replay["body"] == first["body"] and replay["headers"]["Idempotent-Replayed"] == "true"
    other = app.api.handle(post(f"/payments/{payment['id']}/capture", {"amount": 200}, key="k"))
    assert other["statusCode"] == 422 and body_of(other)["error"]["code"] == "idempotency_key_reused"
    # The same key on another route is another request too.
    refund = app.api.handle(post(f"/payments/{payment['id']}/refunds", {"amount": 300}, key="k"))
    assert refund["statusCode"] == 422 and body_of(refund)["error"]["code"] == "idempotency_key_reused"


def test_refunds_add_up_to_refunded_and_never_past_the_captured_amount(app: App) -> None:
    payment = charge(app, amount=1000)
    first = app.api.handle(post(f"/payments/{payment['id']}/refunds", {"amount": 400, "reason": "duplicate"}, key="r1"))
    assert first["statusCode"] == 201
    refund = body_of(first)
    assert refund["id"].startswith("re_") and refund["status"] == "succeeded" and refund["amount"] == 400
    assert refund["reason"] == "duplicate" and refund["currency"] == "USD" and refund["created_at"].endswith("Z")
    after = body_of(get(app, f"/payments/{payment['id']}"))
    assert after["amount_refunded"] == 400 and after["status"] == "succeeded"
    too_much = app.api.handle(post(f"/payments/{payment['id']}/refunds", {"amount": 601}, key="r2"))
    assert too_much["statusCode"] == 422 and body_of(too_much)["error"]["code"] == "refund_exceeds_captured"
    assert "600" in body_of(too_much)["error"]["message"]
    # No amount: all that is left.
    rest = app.api.handle(post(f"/payments/{payment['id']}/refunds", key="r3"))
    assert rest["statusCode"] == 201 and body_of(rest)["amount"] == 600
    final = body_of(get(app, f"/payments/{payment['id']}"))
    assert final["status"] == "refunded" and final["amount_refunded"] == 1000
    nothing_left = app.api.handle(post(f"/payments/{payment['id']}/refunds", key="r4"))
    assert nothing_left["statusCode"] == 422 and body_of(nothing_left)["error"]["code"] == "refund_exceeds_captured"
    listed = body_of(get(app, f"/payments/{payment['id']}/refunds"))
    assert listed["object"] == "list" and listed["has_more"] is False
    assert [r["amount"] for r in listed["data"]] == [600, 400]


def test_a_partially_captured_payment_refunds_only_what_was_captured(app: App) -> None:
    payment = authorize(app, amount=900)
    app.api.handle(post(f"/payments/{payment['id']}/capture", {"amount": 300}, key="cap"))
    response = app.api.handle(post(f"/payments/{payment['id']}/refunds", {"amount": 301}, key="r"))
    assert response["statusCode"] == 422 and body_of(response)["error"]["code"] == "refund_exceeds_captured"
    assert app.api.handle(post(f"/payments/{payment['id']}/refunds", key="r-all"))["statusCode"] == 201
    assert body_of(get(app, f"/payments/{payment['id']}"))["status"] == "refunded"


def test_uncaptured_declined_and_failed_payments_cannot_be_refunded(app: App) -> None:
    manual = authorize(app)
    declined = body_of(app.api.handle(post_payment(payment_body(payment_method="tok_chargeDeclined"), key="d")))
    for payment in (manual, declined):
        response = app.api.handle(post(f"/payments/{payment['id']}/refunds", key=f"r-{payment['id']}"))
        assert response["statusCode"] == 409 and body_of(response)["error"]["code"] == "payment_state_conflict"


@pytest.mark.parametrize(
    ("token", "action", "body", "code"),
    [
        ("tok_captureRefused", "capture", None, "capture_refused"),
        ("tok_partialCaptureRefused", "capture", {"amount": 1}, "partial_capture_unsupported"),
        ("tok_cancelRefused", "cancel", None, "cancel_refused"),
    ],
)
def test_acquirer_refusals_leave_the_authorization(app: App, token: str, action: str, body: Any, code: str) -> None:
    payment = authorize(app, payment_method=token)
    response = app.api.handle(post(f"/payments/{payment['id']}/{action}", body, key="k"))
    assert response["statusCode"] == 402 and body_of(response)["error"]["code"] == code
    assert body_of(response)["status"] == "requires_capture"
    assert body_of(get(app, f"/payments/{payment['id']}"))["status"] == "requires_capture"
    assert app.api.handle(post(f"/payments/{payment['id']}/{action}", body, key="k"))["body"] == response["body"]


def test_partial_capture_refused_still_allows_a_full_capture(app: App) -> None:
    payment = authorize(app, payment_method="tok_partialCaptureRefused")
    assert app.api.handle(post(f"/payments/{payment['id']}/capture", {"amount": 5}, key="p"))["statusCode"] == 402
    assert app.api.handle(post(f"/payments/{payment['id']}/capture", key="full"))["statusCode"] == 200


def test_refused_refund_is_failed_and_releases_its_amount(app: App) -> None:
    payment = charge(app, payment_method="tok_refundRefused", amount=700)
    response = app.api.handle(post(f"/payments/{payment['id']}/refunds", {"amount": 700}, key="r"))
    assert response["statusCode"] == 402
    refund = body_of(response)
    assert refund["status"] == "failed" and refund["failure_code"] == "refund_refused"
    assert refund["error"]["code"] == "refund_failed"
    assert body_of(get(app, f"/payments/{payment['id']}"))["amount_refunded"] == 0


class Silent(SimulatedAcquirer):
    """The simulated acquirer, with follow-ups that get no answer while ``down``."""

    down = True

    def _follow_up(self, authorization: Authorization, kind: str, amount: int, key: str) -> FollowUpOutcome:
        if self.down:
            return Unknown("no route to the acquirer")
        return super()._follow_up(authorization, kind, amount, key)


def test_unanswered_follow_ups_wait_and_the_job_finishes_them() -> None:
    store, acquirer = InMemoryStore(), Silent()
    service = PaymentService(store, acquirer, OutboxDelivery(store, MemorySink()))
    app = App(Api(service, Logger(service="merchant-api-test")), service, store, MemorySink(), io.StringIO())
    payment = authorize(app, amount=900)
    charged = charge(app, amount=500)
    response = app.api.handle(post(f"/payments/{payment['id']}/capture", {"amount": 600}, key="cap"))
    assert response["statusCode"] == 503 and body_of(response)["error"]["code"] == "payment_processing"
    assert response["headers"]["Retry-After"] == "2"
    refund = app.api.handle(post(f"/payments/{charged['id']}/refunds", {"amount": 200}, key="ref"))
    assert refund["statusCode"] == 503 and body_of(refund)["error"]["code"] == "refund_processing"
    # A second operation waits for the first; a pending refund already counts against what is left.
    cancel = app.api.handle(post(f"/payments/{payment['id']}/cancel", key="cancel"))
    assert cancel["statusCode"] == 409 and "already waiting" in body_of(cancel)["error"]["message"]
    over = app.api.handle(post(f"/payments/{charged['id']}/refunds", {"amount": 301}, key="over"))
    assert over["statusCode"] == 422
    store.make_resolution_due()
    assert app.service.resolve_processing(older_than_s=0).still_processing == 2
    acquirer.down = False
    store.make_resolution_due()
    assert app.service.resolve_processing(older_than_s=0).settled == 2
    assert body_of(get(app, f"/payments/{payment['id']}"))["amount_captured"] == 600
    assert body_of(get(app, f"/payments/{charged['id']}"))["amount_refunded"] == 200
    # The original keys now replay what the job recorded.
    replay = app.api.handle(post(f"/payments/{payment['id']}/capture", {"amount": 600}, key="cap"))
    assert replay["statusCode"] == 200 and body_of(replay)["status"] == "succeeded"
    replay = app.api.handle(post(f"/payments/{charged['id']}/refunds", {"amount": 200}, key="ref"))
    assert replay["statusCode"] == 201 and body_of(replay)["status"] == "succeeded"


def test_authorizations_older_than_seven_days_are_canceled_by_the_job(app: App) -> None:
    from dataclasses import replace
    from datetime import timedelta

    payment = authorize(app)
    young = authorize(app, key="young")
    state = app.store._state
    state.payments[payment["id"]] = replace(state.payments[payment["id"]], updated_at=utc_now() - timedelta(days=8))
    report = app.service.resolve_processing(older_than_s=0)
    assert report.canceled_expired == 1
    canceled = body_of(get(app, f"/payments/{payment['id']}"))
    assert canceled["status"] == "canceled" and canceled["cancellation_reason"] == "automatic"
    assert body_of(get(app, f"/payments/{young['id']}"))["status"] == "requires_capture"


def test_read_only_keys_read_but_never_write(app: App) -> None:
    payment = charge(app)
    for path in (
        f"/payments/{payment['id']}/capture",
        f"/payments/{payment['id']}/cancel",
        f"/payments/{payment['id']}/refunds",
    ):
        response = app.api.handle(post(path, key="ro", read_only=True))
        assert response["statusCode"] == 403
    for path in ("/payments", f"/payments/{payment['id']}/refunds", "/events"):
        assert app.api.handle(proxy_event("GET", path, read_only=True))["statusCode"] == 200


def test_another_merchants_objects_are_404_on_every_route(app: App) -> None:
    payment = charge(app, amount=1000)
    app.api.handle(post(f"/payments/{payment['id']}/refunds", {"amount": 10}, key="r"))
    unknown = "pay_" + "a" * 26
    events = body_of(get(app, "/events"))["data"]
    answers = []
    for path in (payment["id"], unknown):
        answers += [
            get(app, f"/payments/{path}", merchant=OTHER),
            get(app, f"/payments/{path}/refunds", merchant=OTHER),
            app.api.handle(post(f"/payments/{path}/capture", key=f"c{path}", merchant=OTHER)),
            app.api.handle(post(f"/payments/{path}/cancel", key=f"x{path}", merchant=OTHER)),
            app.api.handle(post(f"/payments/{path}/refunds", key=f"r{path}", merchant=OTHER)),
            app.api.handle(post(f"/payments/{path}/confirm", key=f"f{path}", merchant=OTHER)),
            get(app, "/payments", merchant=OTHER, starting_after=path),
        ]
    assert {a["statusCode"] for a in answers} == {404}
    assert len({a["body"] for a in answers}) == 1 and payment["id"] not in answers[0]["body"]
    feed = get(app, "/events", merchant=OTHER, starting_after=events[0]["id"])
    assert feed["statusCode"] == 404
    assert body_of(get(app, "/payments", merchant=OTHER))["data"] == []
    assert body_of(get(app, "/events", merchant=OTHER))["data"] == []
    assert body_of(get(app, f"/payments/{payment['id']}"))["amount_refunded"] == 10


def test_listing_pages_newest_first_with_both_cursors(app: App) -> None:
    ids = [charge(app, key=f"p{i}", amount=100 + i)["id"] for i in range(7)]
    newest_first = list(reversed(ids))
    first = body_of(get(app, "/payments", limit="3"))
    assert [p["id"] for p in first["data"]] == newest_first[:3] and first["has_more"] is True
    second = body_of(get(app, "/payments", limit="3", starting_after=first["data"][-1]["id"]))
    assert [p["id"] for p in second["data"]] == newest_first[3:6] and second["has_more"] is True
    third = body_of(get(app, "/payments", limit="3", starting_after=second["data"][-1]["id"]))
    assert [p["id"] for p in third["data"]] == newest_first[6:] and third["has_more"] is False
    back = body_of(get(app, "/payments", limit="3", ending_before=third["data"][0]["id"]))
    assert [p["id"] for p in back["data"]] == newest_first[3:6] and back["has_more"] is True
    assert body_of(get(app, "/payments"))["data"][0]["id"] == ids[-1]  # default limit 10


def test_listing_filters_by_status_and_creation_time(app: App) -> None:
    charge(app, key="ok")
    app.api.handle(post_payment(payment_body(payment_method="tok_chargeDeclined"), key="no"))
    declined = body_of(get(app, "/payments", status="declined"))["data"]
    assert [p["status"] for p in declined] == ["declined"]
    future = body_of(get(app, "/payments", **{"created[gte]": "2999-01-01T00:00:00Z"}))
    assert future["data"] == []
    assert len(body_of(get(app, "/payments", **{"created[lt]": "4102444800"}))["data"]) == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "paid"}, "status"),
        ({"created[gte]": "yesterday"}, "created[gte]"),
        ({"created[lt]": "2026-01-01T00:00:00"}, "created[lt]"),
        ({"starting_after": "pay_x", "ending_before": "pay_y"}, "ending_before"),
        ({"created[gte]": "0001-01-01T00:00:00+01:00"}, "created[gte]"),
        ({"created[lt]": "99999999999999999999"}, "created[lt]"),
        # Security review, finding 6: a NUL in a cursor was a 500 on every list.
        ({"starting_after": "\x00"}, "starting_after"),
        ({"ending_before": "pay_\x00"}, "ending_before"),
        ({"starting_after": "pay_ab\u200bcd"}, "starting_after"),
        ({"starting_after": "pay x"}, "starting_after"),
        ({"starting_after": ""}, "starting_after"),
    ],
)
def test_bad_list_parameters_are_400_naming_the_parameter(app: App, query: dict[str, str], field: str) -> None:
    response = get(app, "/payments", **query)
    assert response["statusCode"] == 400
    assert body_of(response)["error"] == {**body_of(response)["error"], "code": "invalid_parameter", "field": field}


def test_an_unknown_parameter_is_400_without_naming_it(app: App) -> None:
    response = get(app, "/payments", **{"Zq7surprise": "1"})
    assert response["statusCode"] == 400 and "Zq7" not in response["body"]


def test_events_feed_shows_every_state_change_newest_first(app: App) -> None:
    payment = charge(app, amount=1000)
    app.api.handle(post(f"/payments/{payment['id']}/refunds", {"amount": 1000}, key="r"))
    feed = body_of(get(app, "/events"))
    assert feed["object"] == "list" and feed["has_more"] is False
    types = [event["type"] for event in feed["data"]]
    assert types == [
        "payment.refunded",
        "refund.succeeded",
        "refund.pending",
        "payment.succeeded",
        "payment.processing",
    ]
    newest = feed["data"][0]
    assert newest["object"] == "event" and newest["id"] == f"{payment['id']}:0005"
    assert newest["data"]["payment"]["amount_refunded"] == 1000
    assert feed["data"][1]["data"]["refund"]["amount"] == 1000
    # The feed carries what the transaction log carries: no free text.
    assert "order 42" not in str(feed) and "tok_visa" not in str(feed)
    page = body_of(get(app, "/events", limit="2", starting_after=feed["data"][1]["id"]))
    assert [e["type"] for e in page["data"]] == types[2:4] and page["has_more"] is True


def test_a_key_whose_refund_still_waits_is_never_purged() -> None:
    """A pending refund's key outlives the 24 h retention: a retry after the purge finds its refund, and
    never makes a second one."""
    store, acquirer = InMemoryStore(), Silent()
    service = PaymentService(store, acquirer, OutboxDelivery(store, MemorySink()))
    app = App(Api(service, Logger(service="merchant-api-test")), service, store, MemorySink(), io.StringIO())
    payment = charge(app, amount=2000)
    waiting = app.api.handle(post(f"/payments/{payment['id']}/refunds", {"amount": 500}, key="slow"))
    assert waiting["statusCode"] == 503
    store.age_keys(48)
    assert service.purge_idempotency_keys(24) == 1, "the payment's own, answered, key goes"
    acquirer.down = False
    retried = app.api.handle(post(f"/payments/{payment['id']}/refunds", {"amount": 500}, key="slow"))
    assert retried["statusCode"] == 201
    refunds = body_of(get(app, f"/payments/{payment['id']}/refunds"))["data"]
    assert [r["amount"] for r in refunds] == [500] and body_of(retried)["id"] == refunds[0]["id"]


def test_a_refund_cursor_must_be_a_refund_of_that_payment(app: App) -> None:
    first, second = charge(app, key="a", amount=300), charge(app, key="b", amount=300)
    refund = body_of(app.api.handle(post(f"/payments/{first['id']}/refunds", {"amount": 100}, key="r")))
    app.api.handle(post(f"/payments/{second['id']}/refunds", {"amount": 100}, key="r2"))
    assert get(app, f"/payments/{first['id']}/refunds", starting_after=refund["id"])["statusCode"] == 200
    assert get(app, f"/payments/{second['id']}/refunds", starting_after=refund["id"])["statusCode"] == 404
