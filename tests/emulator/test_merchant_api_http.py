"""Capture, cancel, refunds, listing and the events feed over HTTP on the local target: the routes, the
authorizer and the processor as deployed to the emulator, the database a real PostgreSQL server. Shares
the session's dev/alpha deployment; every test makes its own keys (so its own merchant)."""

from __future__ import annotations

import json
import multiprocessing
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from payment_processor.payment import new_payment_id
from payments_cli.local.records import DeploymentRecord
from tests.emulator.conftest import Cli
from tests.emulator.test_security_http import Client, new_key, pay
from tests.local_target import LocalDeployment

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def api(alpha: DeploymentRecord) -> Client:
    return Client(str(alpha["api"]["url"]))


def merchant(cli: Cli, api: Client, name: str) -> tuple[str, Any]:
    """A fresh merchant's secret key, and a caller bound to it."""
    secret = str(new_key(cli, f"{name}_{uuid.uuid4().hex[:8]}")["secret"])

    def call(method: str, path: str, body: Any = None, *, key: str | None = None, **query: str) -> tuple[int, Any]:
        if query:
            path = f"{path}?{urlencode(query)}"
        if method == "POST" and key is None:
            key = str(uuid.uuid4())
        status, _, answer = api.call(method, path, secret=secret, body=body, key=key)
        return status, answer

    return secret, call


def test_an_authorization_is_incremented_through_the_deployed_route(cli: Cli, api: Client) -> None:
    """The operation written only through the driver, end to end: the route API Gateway was given from the
    one route table, the authorizer in front, the app role raising the amount through its function."""
    _, call = merchant(cli, api, "merch_increment")
    status, held = call("POST", "/payments", pay(1000, capture_method="manual"))
    assert status == 201
    path = f"/payments/{held['id']}/increment_authorization"
    status, low = call("POST", path, {"amount": 1000})
    assert (status, low["error"]["code"]) == (422, "amount_not_above_authorized")
    status, raised = call("POST", path, {"amount": 1800}, key="grow")
    assert (status, raised["status"], raised["amount"]) == (200, "requires_capture", 1800)
    status, again = call("POST", path, {"amount": 1800}, key="grow")
    assert (status, again) == (200, raised)
    status, captured = call("POST", f"/payments/{held['id']}/capture")
    assert (status, captured["amount_captured"]) == (200, 1800)
    status, late = call("POST", path, {"amount": 2000})
    assert (status, late["error"]["code"], late["error"]["payment_status"]) == (
        409,
        "payment_state_conflict",
        "succeeded",
    )
    status, refusing = call(
        "POST", "/payments", {**pay(500, capture_method="manual"), "payment_method": "tok_incrementRefused"}
    )
    status, refused = call("POST", f"/payments/{refusing['id']}/increment_authorization", {"amount": 900})
    assert (status, refused["error"]["code"], refused["amount"]) == (402, "increment_refused", 500)
    status, events = call("GET", "/events", limit="100")
    assert status == 200
    # One payment's events are in the order of the number in their ids.
    mine = [
        e["type"] for e in sorted(events["data"], key=lambda e: e["id"]) if e["data"]["payment"]["id"] == held["id"]
    ]
    assert mine == [
        "payment.processing",
        "payment.requires_capture",
        "payment.authorization_incremented",
        "payment.succeeded",
    ]


def test_each_transition_and_each_refusal(cli: Cli, api: Client) -> None:
    _, call = merchant(cli, api, "merch_flow")
    status, manual = call("POST", "/payments", pay(900, capture_method="manual"))
    assert (status, manual["status"], manual["amount_captured"]) == (201, "requires_capture", 0)
    status, over = call("POST", f"/payments/{manual['id']}/capture", {"amount": 901})
    assert (status, over["error"]["code"]) == (422, "amount_exceeds_authorized")
    status, captured = call("POST", f"/payments/{manual['id']}/capture", {"amount": 600}, key="cap")
    assert (status, captured["status"], captured["amount_captured"]) == (200, "succeeded", 600)
    status, again = call("POST", f"/payments/{manual['id']}/capture", {"amount": 600}, key="cap")
    assert (status, again) == (200, captured), "a replay answers the same bytes"
    status, late = call("POST", f"/payments/{manual['id']}/cancel")
    assert (status, late["error"]["code"], late["error"]["payment_status"]) == (
        409,
        "payment_state_conflict",
        "succeeded",
    )
    status, refund = call("POST", f"/payments/{manual['id']}/refunds", {"amount": 250, "reason": "duplicate"})
    assert (status, refund["status"], refund["amount"]) == (201, "succeeded", 250)
    status, too_much = call("POST", f"/payments/{manual['id']}/refunds", {"amount": 351})
    assert (status, too_much["error"]["code"]) == (422, "refund_exceeds_captured")
    status, rest = call("POST", f"/payments/{manual['id']}/refunds")
    assert (status, rest["amount"]) == (201, 350)
    status, read = call("GET", f"/payments/{manual['id']}")
    assert (status, read["status"], read["amount_refunded"]) == (200, "refunded", 600)
    status, listed = call("GET", f"/payments/{manual['id']}/refunds")
    assert status == 200 and [r["amount"] for r in listed["data"]] == [350, 250]

    status, held = call("POST", "/payments", pay(300, capture_method="manual"))
    status, canceled = call("POST", f"/payments/{held['id']}/cancel", {"cancellation_reason": "abandoned"})
    assert (status, canceled["status"], canceled["cancellation_reason"]) == (200, "canceled", "abandoned")
    status, no_refund = call("POST", f"/payments/{held['id']}/refunds")
    assert (status, no_refund["error"]["payment_status"]) == (409, "canceled")

    for token, action, body, code in (
        ("tok_captureRefused", "capture", None, "capture_refused"),
        ("tok_partialCaptureRefused", "capture", {"amount": 1}, "partial_capture_unsupported"),
        ("tok_cancelRefused", "cancel", None, "cancel_refused"),
    ):
        status, payment = call("POST", "/payments", {**pay(400, capture_method="manual"), "payment_method": token})
        status, refused = call("POST", f"/payments/{payment['id']}/{action}", body)
        assert (status, refused["error"]["code"], refused["status"]) == (402, code, "requires_capture"), token
    status, charged = call("POST", "/payments", {**pay(400), "payment_method": "tok_refundRefused"})
    status, failed = call("POST", f"/payments/{charged['id']}/refunds")
    assert (status, failed["status"], failed["failure_code"]) == (402, "failed", "refund_refused")


def test_another_merchants_objects_are_404_on_every_route(cli: Cli, api: Client) -> None:
    _, mine = merchant(cli, api, "merch_owner")
    _, theirs = merchant(cli, api, "merch_prober")
    status, payment = mine("POST", "/payments", pay(500))
    status, refund = mine("POST", f"/payments/{payment['id']}/refunds", {"amount": 100})
    status, feed = mine("GET", "/events")
    assert status == 200 and feed["data"]
    unknown = "pay_" + "q" * 26
    answers = []
    for target in (payment["id"], unknown):
        answers += [
            theirs("GET", f"/payments/{target}"),
            theirs("POST", f"/payments/{target}/capture"),
            theirs("POST", f"/payments/{target}/cancel"),
            theirs("POST", f"/payments/{target}/refunds", {"amount": 1}),
            theirs("GET", f"/payments/{target}/refunds"),
            theirs("GET", "/payments", starting_after=target),
        ]
    assert {status for status, _ in answers} == {404}
    assert len({str(body) for _, body in answers}) == 1, "another merchant's object answers as an unknown one"
    assert theirs("GET", "/events", starting_after=feed["data"][0]["id"])[0] == 404
    assert theirs("GET", "/payments")[1]["data"] == [] and theirs("GET", "/events")[1]["data"] == []
    assert mine("GET", f"/payments/{payment['id']}")[1]["amount_refunded"] == 100
    assert refund["payment_id"] == payment["id"]


def test_twenty_concurrent_refund_requests_stop_exactly_at_the_captured_amount(
    cli: Cli, api: Client, alpha: DeploymentRecord
) -> None:
    secret, call = merchant(cli, api, "merch_race")
    status, payment = call("POST", "/payments", pay(1000))
    assert status == 201
    barrier = threading.Barrier(20)
    answers: list[tuple[int, str | None]] = []

    def refund() -> None:
        own = Client(str(alpha["api"]["url"]))  # one connection per client, as 20 clients would have
        barrier.wait(timeout=60)
        status, _, body = own.call(
            "POST", f"/payments/{payment['id']}/refunds", secret=secret, body={"amount": 70}, key=str(uuid.uuid4())
        )
        answers.append((status, body.get("error", {}).get("code")))

    threads = [threading.Thread(target=refund) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert sorted(answers) == [(201, None)] * 14 + [(422, "refund_exceeds_captured")] * 6
    status, read = call("GET", f"/payments/{payment['id']}")
    assert (read["amount_refunded"], read["status"]) == (980, "succeeded")
    status, listed = call("GET", f"/payments/{payment['id']}/refunds", limit="100")
    assert len(listed["data"]) == 14 and sum(r["amount"] for r in listed["data"]) == 980


def test_walks_of_1000_payments_with_inserts_interleaved_never_skip_or_repeat_one(
    cli: Cli, api: Client, alpha_deployment: LocalDeployment
) -> None:
    """1,000 payments on record (written straight to the database, ten at each instant so the id has to break
    ties), walked over HTTP both ways with a new payment made through the API between every two pages."""
    name = f"merch_walk_{uuid.uuid4().hex[:8]}"
    secret = str(new_key(cli, name)["secret"])
    start = datetime.now(UTC) - timedelta(hours=1)
    rows = [
        (new_payment_id(), name, 100 + i, "EUR", "succeeded", "tok_visa", start + timedelta(seconds=i // 10), "A1")
        for i in range(1000)
    ]
    with alpha_deployment.sql() as conn, conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO payments (id, merchant_id, amount, currency, status, payment_method, created_at, updated_at, "
            "authorization_code, amount_captured) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(*row[:7], row[6], row[7], row[2]) for row in rows],
        )
    existing = {row[0] for row in rows}
    made: list[str] = []

    def page(**query: str) -> dict[str, Any]:
        status, _, body = api.call("GET", f"/payments?{urlencode(query)}", secret=secret)
        assert status == 200, body
        # Between every two pages, a new payment: newer than everything on record.
        status, _, created = api.call("POST", "/payments", secret=secret, body=pay(5), key=str(uuid.uuid4()))
        assert status == 201
        made.append(created["id"])
        return dict(body)

    older: list[str] = []
    listed = page(limit="100")
    while True:
        older += [p["id"] for p in listed["data"]]
        if not listed["has_more"]:
            break
        listed = page(limit="100", starting_after=older[-1])
    assert len(older) == len(set(older)) == 1000, "no payment repeated"
    assert set(older) == existing, "every payment on record, and none made during the walk (they are newer)"

    newer: list[str] = []
    listed = page(limit="100", ending_before=older[-1])
    while True:
        newer = [p["id"] for p in listed["data"]] + newer
        if not listed["has_more"]:
            break
        listed = page(limit="100", ending_before=newer[0])
    assert len(newer) == len(set(newer)), "no payment repeated"
    made_meanwhile = set(newer) - existing
    assert set(newer) & existing == existing - {older[-1]}, "every payment after the oldest, none skipped"
    assert [p for p in newer if p in existing] == older[:-1], "the same order, newest first"
    # Walking newer picks up every payment made since, but the one made after its last page.
    assert len(made_meanwhile) == len(made) - 1


def test_the_events_feed_and_its_cursors(cli: Cli, api: Client) -> None:
    _, call = merchant(cli, api, "merch_feed")
    status, payment = call("POST", "/payments", pay(800, capture_method="manual"))
    call("POST", f"/payments/{payment['id']}/capture", {"amount": 500})
    call("POST", f"/payments/{payment['id']}/refunds", {"amount": 500})
    status, feed = call("GET", "/events")
    assert status == 200 and feed["has_more"] is False
    assert [e["type"] for e in feed["data"]] == [
        "payment.refunded",
        "refund.succeeded",
        "refund.pending",
        "payment.succeeded",
        "payment.requires_capture",
        "payment.processing",
    ]
    assert feed["data"][1]["data"]["refund"]["amount"] == 500 and "description" not in str(feed)
    status, older = call("GET", "/events", limit="2", starting_after=feed["data"][1]["id"])
    assert [e["id"] for e in older["data"]] == [e["id"] for e in feed["data"][2:4]] and older["has_more"]
    status, newer = call("GET", "/events", ending_before=feed["data"][2]["id"])
    assert [e["id"] for e in newer["data"]] == [e["id"] for e in feed["data"][:2]]
    status, both = call("GET", "/events", starting_after=feed["data"][0]["id"], ending_before=feed["data"][1]["id"])
    assert (status, both["error"]["code"]) == (400, "invalid_parameter")


def raw_post(api: Client, path: str, secret: str, body: bytes, key: bytes) -> tuple[int, Any]:
    """A POST with the header and body bytes as given (http.client would refuse non-Latin-1 text in a header)."""
    api.conn.putrequest("POST", api.stage + path)
    api.conn.putheader("Authorization", f"Bearer {secret}")
    api.conn.putheader("Content-Type", "application/json")
    api.conn.putheader("Idempotency-Key", key)
    api.conn.putheader("Content-Length", str(len(body)))
    api.conn.endheaders(body)
    response = api.conn.getresponse()
    return response.status, json.loads(response.read() or b"null")


def _increment_in_a_process(url: str, secret: str, payment_id: str, barrier: Any) -> tuple[int, str]:
    api = Client(url)
    barrier.wait()
    status, _, body = api.call(
        "POST", f"/payments/{payment_id}/increment_authorization", secret=secret, body={"amount": 3000}, key="raced"
    )
    return status, json.dumps(body, sort_keys=True)


def test_the_increment_route_holds_against_hostile_input(cli: Cli, api: Client, alpha: DeploymentRecord) -> None:
    """Null, floats, strings and 2^63 for the amount; NUL and invisible characters in the body, the key and the
    path; another merchant's payment; a card number in the path; one key raced from eight processes."""
    secret, call = merchant(cli, api, "merch_increment_hostile")
    _, other = merchant(cli, api, "merch_increment_other")
    status, held = call("POST", "/payments", pay(1000, capture_method="manual"))
    assert status == 201
    path = f"/payments/{held['id']}/increment_authorization"
    for amount in (None, 1500.0, 1500.5, "1500", 2**63, -(2**63), True, [1500], {"value": 1500}):
        status, refused = call("POST", path, {"amount": amount})
        assert (status, refused["error"]["field"]) == (422, "amount"), amount
    for text in ("\u0000", "\u200b", "\u00ad"):
        status, refused = call("POST", path, {"amount": 1500, "note": f"a{text}b"})
        assert status == 422, (text, refused)
        status, refused = raw_post(api, path, secret, b'{"amount": 1500}', f"k{text}ey".encode())
        assert 400 <= status < 500, (text, status, refused)
        status, refused = call("POST", f"/payments/{held['id']}{quote(text)}/increment_authorization", {"amount": 1500})
        assert status == 404, (text, status, refused)
    status, card = call("POST", "/payments/4000056655665556/increment_authorization", {"amount": 1500})
    assert status == 404 and "4000056655665556" not in json.dumps(card)
    status, theirs = other("POST", path, {"amount": 1500})
    status_unknown, unknown = other("POST", f"/payments/{new_payment_id()}/increment_authorization", {"amount": 1500})
    assert status == status_unknown == 404 and theirs == unknown, "another merchant's payment is an unknown one"
    status, read = call("GET", f"/payments/{held['id']}")
    assert (status, read["amount"]) == (200, 1000), "nothing above changed the payment"

    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(8)
    with context.Pool(8) as pool:
        answers = pool.starmap(_increment_in_a_process, [(str(alpha["api"]["url"]), secret, held["id"], barrier)] * 8)
    statuses = sorted(status for status, _ in answers)
    assert set(statuses) <= {200, 409} and 200 in statuses, statuses
    assert len({body for status, body in answers if status == 200}) == 1, "every 200 is the same answer"
    status, read = call("GET", f"/payments/{held['id']}")
    assert (status, read["amount"]) == (200, 3000)
    status, events = call("GET", "/events", limit="100")
    increments = [e for e in events["data"] if e["type"] == "payment.authorization_incremented"]
    assert len(increments) == 1, "one increment for one key, however many processes raced it"
