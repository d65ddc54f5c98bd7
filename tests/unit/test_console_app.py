"""The operator console's application over werkzeug's test client: who may ask, what each answer carries."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client

from payments_cli.console import chart
from payments_cli.console.app import AdminRefused, AdminUnavailable, ConsoleApp
from payments_cli.console.sessions import COOKIE, SESSION_S, Sessions

PORT = 8765
ORIGIN = f"http://127.0.0.1:{PORT}"


def series(width: int, count: int, **last: int) -> dict[str, Any]:
    buckets: list[dict[str, Any]] = [
        {"start": f"2026-12-07T09:{i:02d}:00Z", "succeeded": 0, "declined": 0, "failed": 0, "open": 0, "canceled": 0}
        for i in range(count)
    ]
    buckets[-1].update(last)
    totals = {k: sum(b[k] for b in buckets) for k in ("succeeded", "declined", "failed", "open", "canceled")}
    decided = totals["succeeded"] + totals["declined"] + totals["failed"]
    rate = None if decided == 0 else totals["succeeded"] / decided
    return {"bucket_s": width, "buckets": buckets, "totals": totals, "authorization_rate": rate}


def overview(**extra: Any) -> dict[str, Any]:
    return {
        "now": "2026-12-07T09:59:30Z",
        "last_hour": series(60, 60, succeeded=3, declined=1),
        "last_day": series(3600, 24, succeeded=3, declined=1),
        "processing": {"count": 2, "oldest_created_at": "2026-12-07T09:58:00Z"},
        "outbox": {"backlog": 5, "oldest_undelivered_at": "2026-12-07T09:57:00Z", "dead_lettered": 1},
        "failing_webhook_endpoints": [],
        **extra,
    }


class World:
    """The console app over a stand-in admin function that answers each action from ``answers``."""

    def __init__(self, answer: Any = None, **answers: Any) -> None:
        self.now = 0.0
        self.sessions = Sessions(clock=lambda: self.now)
        self.asked: list[dict[str, Any]] = []
        self.answers = {"overview": answer if answer is not None else overview(), **answers}
        self.app = ConsoleApp(deployment="dev/alpha", port=PORT, admin=self.read, sessions=self.sessions)

    @property
    def reads(self) -> int:
        return len(self.asked)

    def read(self, payload: dict[str, Any]) -> dict[str, Any]:
        self.asked.append(payload)
        answer = self.answers[payload["action"]]
        if isinstance(answer, Exception):
            raise answer
        return dict(answer)

    def client(self) -> Client:
        return Client(self.app)

    def signed_in(self) -> Client:
        client = self.client()
        response = client.get(f"/?token={self.sessions.token}", base_url=ORIGIN)
        assert response.status_code == 303 and response.headers["Location"] == "/overview"
        return client


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match
    return match.group(1)


def test_the_one_time_token_opens_one_session_with_a_strict_httponly_cookie() -> None:
    world = World()
    client = world.client()
    response = client.get(f"/?token={world.sessions.token}", base_url=ORIGIN)
    assert response.status_code == 303 and response.headers["Location"] == "/overview"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/" in cookie and f"Max-Age={SESSION_S}" in cookie and world.sessions.token not in cookie
    page = client.get("/overview", base_url=ORIGIN)
    assert page.status_code == 200 and "Overview" in page.text
    again = World.client(world).get(f"/?token={world.sessions.token}", base_url=ORIGIN)
    assert again.status_code == 401, "the token works once"


@pytest.mark.parametrize("cookie", [None, "", "x", "a" * 43, "\x00"])
def test_without_a_live_session_every_page_is_401_and_nothing_is_read(cookie: str | None) -> None:
    world = World()
    world.signed_in()
    client = world.client()
    if cookie is not None:
        client.set_cookie(COOKIE, cookie, domain="127.0.0.1")
    for path in ("/", "/overview"):
        response = client.get(path, base_url=ORIGIN)
        assert response.status_code == 401 and "Sign in" in response.text
    assert client.get("/?token=wrong", base_url=ORIGIN).status_code == 401
    assert world.reads == 0


def test_a_session_ends_after_its_idle_time() -> None:
    world = World()
    client = world.signed_in()
    world.now += SESSION_S - 1
    assert client.get("/overview", base_url=ORIGIN).status_code == 200
    world.now += SESSION_S + 1
    assert client.get("/overview", base_url=ORIGIN).status_code == 401


def test_the_overview_shows_the_figures_and_charts_them_without_any_script() -> None:
    world = World()
    response = world.signed_in().get("/overview", base_url=ORIGIN)
    page = response.text
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert '<strong id="hour-rate">75.0%</strong>' in page
    assert '<dd id="processing">2</dd>' in page and '<dd id="outbox-backlog">5</dd>' in page
    assert '<dd id="dead-lettered">1</dd>' in page
    assert page.count('<rect class="succeeded"') == 2 and page.count('<rect class="declined"') == 2
    # One script, the console's own file; none inline, no inline style or handler attribute.
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", page, re.S)
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/static/copy.js" defer>'] and scripts == [""]
    assert " style=" not in page and "on" + "click" not in page


def test_every_answer_forbids_script_framing_caching_and_sniffing() -> None:
    world = World()
    for response in (
        world.client().get("/overview", base_url=ORIGIN),
        world.signed_in().get("/overview", base_url=ORIGIN),
        world.client().get("/static/console.css", base_url=ORIGIN),
        world.client().get("/static/copy.js", base_url=ORIGIN),
        world.client().get("/nowhere", base_url=ORIGIN),
    ):
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Cache-Control"] == "no-store" and response.headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("host", ["evil.example:8765", "127.0.0.1:9999", "127.0.0.1", "0.0.0.0:8765"])
def test_a_request_for_another_host_is_refused(host: str) -> None:
    """A DNS-rebinding page reaches the console's port under its own name: it must not get the session's pages."""
    world = World()
    client = world.signed_in()
    response = client.get("/overview", base_url=f"http://{host}")
    assert response.status_code == 421 and world.reads == 0


def test_a_change_needs_the_consoles_own_origin_and_the_sessions_csrf_token() -> None:
    world = World()
    client = world.signed_in()
    csrf = csrf_of(client.get("/overview", base_url=ORIGIN).text)
    tries: list[tuple[dict[str, str], dict[str, str]]] = [
        ({}, {"csrf": csrf}),  # no Origin, no Referer
        ({"Origin": "http://evil.example"}, {"csrf": csrf}),
        ({"Origin": "null"}, {"csrf": csrf}),
        ({"Origin": f"{ORIGIN}.evil.example"}, {"csrf": csrf}),
        ({"Referer": "http://evil.example/"}, {"csrf": csrf}),
        ({"Referer": f"{ORIGIN}.evil.example/"}, {"csrf": csrf}),
        ({"Origin": ORIGIN}, {}),
        # One character changed, whatever the token's first one is (a fixed "x" was the real token 1 time in 64).
        ({"Origin": ORIGIN}, {"csrf": ("y" if csrf[0] == "x" else "x") + csrf[1:]}),
        ({"Origin": ORIGIN}, {"csrf": ""}),
    ]
    for headers, form in tries:
        response = client.post("/logout", headers=headers, data=form, base_url=ORIGIN)
        assert response.status_code == 403, (headers, form)
        assert client.get("/overview", base_url=ORIGIN).status_code == 200, "still signed in"
    signed_out = client.post("/logout", headers={"Referer": f"{ORIGIN}/overview"}, data={"csrf": csrf}, base_url=ORIGIN)
    assert signed_out.status_code == 200 and "Signed out" in signed_out.text
    assert client.get("/overview", base_url=ORIGIN).status_code == 401


def test_what_the_deployment_answers_is_escaped() -> None:
    hostile = "<script>alert(1)</script>"
    failing = [
        {
            "id": "we_x",
            "merchant_id": hostile,
            "status": "enabled",
            "failing_since": hostile,
            "disabled_reason": None,
            "retrying": 1,
            "abandoned": 2,
        }
    ]
    world = World(overview(failing_webhook_endpoints=failing, now=hostile))
    page = world.signed_in().get("/overview", base_url=ORIGIN).text
    assert hostile not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_admin_function_that_cannot_answer_is_a_502_page_that_says_why() -> None:
    world = World(AdminUnavailable("the deployment dev/alpha is not deployed: run `payments up --suffix alpha`"))
    response = world.signed_in().get("/overview", base_url=ORIGIN)
    assert response.status_code == 502 and "payments up --suffix alpha" in response.text


def test_wrong_methods_and_paths_have_their_own_answers() -> None:
    world = World()
    client = world.signed_in()
    assert client.get("/logout", base_url=ORIGIN).status_code == 405
    assert client.get("/logout", base_url=ORIGIN).headers["Allow"] == "POST"
    assert client.get("/static/..%2fapp.py", base_url=ORIGIN).status_code == 404
    assert client.get("/static/app.py", base_url=ORIGIN).status_code == 404
    assert client.get("/admin", base_url=ORIGIN).status_code == 404


def test_the_chart_stacks_each_bucket_and_scales_to_the_tallest() -> None:
    buckets = [{"start": "a", "succeeded": 2, "declined": 2, "failed": 0}, {"start": "b", "succeeded": 1}]
    drawn = chart.bars(buckets)
    assert [(b.series, b.height) for b in drawn] == [
        ("succeeded", chart.HEIGHT / 2),
        ("declined", chart.HEIGHT / 2),
        ("succeeded", chart.HEIGHT / 4),
    ]
    assert drawn[1].y == 0 and drawn[0].y == chart.HEIGHT / 2 and drawn[2].x == chart.WIDTH / 2
    assert chart.bars([]) == [] and chart.bars([{"start": "a"}]) == []


PAYMENT = {
    "id": "pay_" + "a" * 26,
    "merchant_id": "merch_1",
    "amount": 1500,
    "currency": "EUR",
    "status": "succeeded",
    "capture_method": "automatic",
    "created_at": "2026-12-07T09:00:00Z",
}


def test_the_search_form_sends_its_filters_and_pages_on() -> None:
    world = World(find_payments={"payments": [PAYMENT], "has_more": True})
    client = world.signed_in()
    page = client.get(
        "/payments?merchant_id=merch_1&status=succeeded&amount_min=100&amount_max=&created_from=", base_url=ORIGIN
    ).text
    assert world.asked[-1] == {
        "action": "find_payments",
        "filters": {"merchant_id": "merch_1", "status": "succeeded", "amount_min": 100},
    }
    assert f'<a href="/payments/{PAYMENT["id"]}">' in page and "15.00 EUR" in page
    assert f"starting_after={PAYMENT['id']}" in page and "merchant_id=merch_1" in page and 'id="next-page"' in page
    client.get(f"/payments?merchant_id=merch_1&starting_after={PAYMENT['id']}", base_url=ORIGIN)
    assert world.asked[-1]["filters"] == {"merchant_id": "merch_1", "starting_after": PAYMENT["id"]}


@pytest.mark.parametrize("amount", ["1.5", "-1", "1e3", "١٢", "x", "1 0"])
def test_an_amount_that_is_not_a_whole_number_is_refused_before_anything_is_asked(amount: str) -> None:
    world = World(find_payments={"payments": [], "has_more": False})
    client = world.signed_in()
    response = client.get("/payments", query_string={"amount_min": amount}, base_url=ORIGIN)
    assert response.status_code == 400 and "whole number of minor units" in response.text
    assert world.asked == []


def test_what_the_admin_function_refuses_is_shown_with_its_reason() -> None:
    world = World(
        find_payments=AdminRefused("invalid_request", "created_from is an ISO 8601 time with its zone"),
        payment_timeline=AdminRefused("not_found", "no such payment"),
    )
    client = world.signed_in()
    searched = client.get("/payments?created_from=yesterday", base_url=ORIGIN)
    assert searched.status_code == 400 and "ISO 8601 time with its zone" in searched.text
    missing = client.get(f"/payments/{PAYMENT['id']}", base_url=ORIGIN)
    assert missing.status_code == 404 and "no such payment" in missing.text


def test_a_payments_timeline_shows_what_happened_escaped() -> None:
    hostile = "<img src=x onerror=alert(1)>"
    timeline = {
        "payment": {
            **PAYMENT,
            "amount": 5,
            "currency": "JPY",
            "description": hostile,
            "amount_captured": 5,
            "amount_refunded": 0,
            "updated_at": None,
        },
        "events": [
            {
                "event_id": "evt_1",
                "event_type": "payment.succeeded",
                "created_at": "t1",
                "delivered_at": None,
                "dead_lettered_at": None,
                "attempts": 0,
                "object_key": "transactions/x.json",
            }
        ],
        "refunds": [],
        "attempts": [],
        "in_flight": [],
        "webhook_deliveries": [],
        "s3_objects": [{"key": "transactions/x.json", "size": 321, "last_modified": "t2"}],
        "s3_error": None,
        "idempotency_answers": [
            {
                "idempotency_key": "k1",
                "response_status": 201,
                "response_body": hostile,
                "created_at": "t0",
                "refund_id": None,
            }
        ],
    }
    world = World(payment_timeline=timeline)
    page = world.signed_in().get(f"/payments/{PAYMENT['id']}", base_url=ORIGIN).text
    assert world.asked[-1] == {"action": "payment_timeline", "payment_id": PAYMENT["id"]}
    assert "5 JPY" in page and "payment.succeeded" in page and "transactions/x.json" in page
    assert '<table id="s3-objects">' in page and "<td>321</td>" in page
    assert hostile not in page and page.count("&lt;img src=x onerror=alert(1)&gt;") == 2


KEY: dict[str, Any] = {
    "id": "key_" + "b" * 26,
    "merchant_id": "merch_1",
    "mode": "test",
    "read_only": False,
    "redacted_secret": "sk_test_...wxyz",
    "created_at": "2026-12-07T09:00:00Z",
    "revoked_at": None,
    "expires_at": None,
    "last_used_at": None,
    "replaced_by": None,
}
SECRET = "sk_test_" + "S" * 39 + "wxyz"


def keys_world() -> World:
    return World(
        list_keys={"keys": [KEY]},
        create_key={"key": {**KEY, "id": "key_" + "c" * 26, "secret": SECRET}},
        revoke_key={"key": {**KEY, "revoked_at": "2026-12-07T10:00:00Z"}},
    )


def test_a_key_is_created_through_the_form_and_its_secret_shown_this_once() -> None:
    world = keys_world()
    client = world.signed_in()
    page = client.get("/keys", base_url=ORIGIN).text
    assert KEY["id"] in page and "sk_test_...wxyz" in page and SECRET not in page
    form = {"csrf": csrf_of(page), "merchant_id": "merch_9", "read_only": "on", "expires_in_days": "90"}
    created = client.post("/keys", data=form, headers={"Origin": ORIGIN}, base_url=ORIGIN)
    assert created.status_code == 201 and SECRET in created.text and created.headers["Cache-Control"] == "no-store"
    assert world.asked[-2] == {
        "action": "create_key",
        "merchant_id": "merch_9",
        "read_only": True,
        "expires_in_s": 90 * 86400,
    }
    assert SECRET not in client.get("/keys", base_url=ORIGIN).text, "shown once"


@pytest.mark.parametrize("days", ["0", "1096", "1.5", "x", "-3"])
def test_a_key_lifetime_out_of_range_is_refused_before_anything_is_created(days: str) -> None:
    world = keys_world()
    client = world.signed_in()
    form = {"csrf": csrf_of(client.get("/keys", base_url=ORIGIN).text), "merchant_id": "m", "expires_in_days": days}
    response = client.post("/keys", data=form, headers={"Origin": ORIGIN}, base_url=ORIGIN)
    assert response.status_code == 400 and "1 to 1095" in response.text
    assert all(asked["action"] != "create_key" for asked in world.asked)


def test_a_key_is_revoked_only_after_its_confirmation_from_the_consoles_own_form() -> None:
    world = keys_world()
    client = world.signed_in()
    confirm = client.get(f"/keys/{KEY['id']}/revoke", base_url=ORIGIN)
    assert confirm.status_code == 200 and f"Revoke {KEY['id']}" in confirm.text
    assert all(asked["action"] != "revoke_key" for asked in world.asked), "asking is not revoking"
    csrf = csrf_of(confirm.text)
    foreign = client.post(
        f"/keys/{KEY['id']}/revoke", data={"csrf": csrf}, headers={"Origin": "http://evil.example"}, base_url=ORIGIN
    )
    forged = client.post(f"/keys/{KEY['id']}/revoke", data={}, headers={"Origin": ORIGIN}, base_url=ORIGIN)
    assert foreign.status_code == forged.status_code == 403
    assert all(asked["action"] != "revoke_key" for asked in world.asked)
    done = client.post(f"/keys/{KEY['id']}/revoke", data={"csrf": csrf}, headers={"Origin": ORIGIN}, base_url=ORIGIN)
    assert done.status_code == 200 and "revoked at 2026-12-07T10:00:00Z" in done.text
    assert {"action": "revoke_key", "key_id": KEY["id"]} in world.asked
    assert client.get("/keys/key_unknown/revoke", base_url=ORIGIN).status_code == 404


@pytest.mark.parametrize("change", ["create", "revoke", "redeliver"])
def test_a_change_the_audit_log_did_not_record_says_so_on_its_page(change: str) -> None:
    problem = "the audit entry was not copied to the transaction log: S3 unavailable"
    world = keys_world()
    for action in ("create_key", "revoke_key"):
        world.answers[action] = {**world.answers[action], "audit_error": problem}
    world.answers["endpoint_attempts"] = {"attempts": []}
    world.answers["redeliver_event"] = {"redelivery": {"event_id": "evt_1"}, "audit_error": problem}
    client = world.signed_in()
    csrf = csrf_of(client.get("/keys", base_url=ORIGIN).text)
    headers = {"Origin": ORIGIN}
    if change == "create":
        page = client.post("/keys", data={"csrf": csrf, "merchant_id": "m_1"}, headers=headers, base_url=ORIGIN)
    elif change == "revoke":
        page = client.post(f"/keys/{KEY['id']}/revoke", data={"csrf": csrf}, headers=headers, base_url=ORIGIN)
    else:
        form = {"csrf": csrf, "event_id": "evt_1"}
        page = client.post("/webhooks/we_1/redeliver", data=form, headers=headers, base_url=ORIGIN)
    assert page.status_code in (200, 201)
    assert 'id="audit-warning"' in page.text and problem in page.text
    world.answers["list_keys"] = {"keys": [KEY]}
    assert 'id="audit-warning"' not in client.get("/keys", base_url=ORIGIN).text, "only on the change's own page"


def test_the_deployment_page_describes_this_machines_record_of_it(tmp_path: Path) -> None:
    from payments_cli.console.deployment import describe

    stack = tmp_path / "stack"
    stack.mkdir()
    doc = {
        "resource": {
            "aws_s3_bucket": {"a": {"bucket": "payment-txlog-dev-x"}, "b": {"bucket": "payment-y-dev-x"}},
            "aws_sqs_queue": {"q": {"name": "payment-q-dev-x"}},
        }
    }
    (stack / "cdk.tf.json").write_text(json.dumps(doc))
    record = {"stack_dir": str(stack), "deployed_at": 1796636895.2, "outputs": {"api_url": "http://x/v1"}}
    described = describe("dev", "x", record)
    assert described["config"]["name"] == "dev" and described["config"]["payment_connectors"] == "stripe, simulated"
    assert described["record"]["resources"] == [("aws_s3_bucket", 2), ("aws_sqs_queue", 1)]
    assert described["record"]["deployed_at"] == "2026-12-07T09:48:15+00:00"
    assert described["record"]["preflight"]["checked"] is True and described["record"]["preflight"]["errors"] > 0
    gone = describe("dev", "x", {**record, "stack_dir": str(tmp_path / "gone")})
    assert (
        gone["record"]["preflight"]["checked"] is False
        and "no longer on this machine" in gone["record"]["preflight"]["why"]
    )
    assert describe("prod", "x", None)["record"] is None

    world = World()
    world.app = ConsoleApp(
        deployment="dev/x", port=PORT, admin=world.read, sessions=world.sessions, describe=lambda: described
    )
    page = world.signed_in().get("/deployment", base_url=ORIGIN)
    assert page.status_code == 200 and '<dd id="resource-count">3</dd>' in page.text
    assert "api_url" in page.text and "aws_sqs_queue" in page.text
    bare = World()
    assert bare.signed_in().get("/deployment", base_url=ORIGIN).status_code == 404


def test_webhook_pages_list_endpoints_and_an_endpoints_attempts_escaped() -> None:
    endpoint = {
        "id": "we_" + "d" * 26,
        "merchant_id": "merch_1",
        "url": "https://example.com/in",
        "status": "enabled",
        "disabled_reason": None,
        "failing_since": "t",
        "created_at": "t",
        "events": 1,
        "succeeded": 4,
        "waiting": 1,
        "abandoned": 2,
    }
    attempt = {
        "attempted_at": "t",
        "event_id": "evt_1",
        "delivery_id": 1,
        "attempt": 2,
        "status_code": 500,
        "error": None,
        "latency_ms": 12,
        "next_attempt_at": None,
        "excerpt": "<b>down</b>",
    }
    world = World(webhook_endpoints={"endpoints": [endpoint]}, endpoint_attempts={"attempts": [attempt]})
    client = world.signed_in()
    listed = client.get("/webhooks", base_url=ORIGIN).text
    assert f'<a href="/webhooks/{endpoint["id"]}">' in listed and "https://example.com/in" in listed
    shown = client.get(f"/webhooks/{endpoint['id']}", base_url=ORIGIN).text
    assert world.asked[-1] == {"action": "endpoint_attempts", "endpoint_id": endpoint["id"]}
    assert "<b>down</b>" not in shown and "&lt;b&gt;down&lt;/b&gt;" in shown


def test_a_redelivery_is_queued_only_from_the_consoles_own_form() -> None:
    endpoint_id = "we_" + "d" * 26
    attempt = {
        "attempted_at": "t",
        "event_id": f"pay_{'a' * 26}:0002",
        "delivery_id": 1,
        "attempt": 1,
        "status_code": 500,
        "error": None,
        "latency_ms": 12,
        "next_attempt_at": None,
        "excerpt": "",
    }
    world = World(
        endpoint_attempts={"attempts": [attempt]},
        redeliver_event={
            "redelivery": {"event_id": attempt["event_id"], "endpoint_id": endpoint_id, "status": "queued"}
        },
    )
    client = world.signed_in()
    page = client.get(f"/webhooks/{endpoint_id}", base_url=ORIGIN).text
    form = {"csrf": csrf_of(page), "event_id": attempt["event_id"]}
    path = f"/webhooks/{endpoint_id}/redeliver"
    assert client.post(path, data=form, headers={"Origin": "http://evil.example"}, base_url=ORIGIN).status_code == 403
    assert client.post(path, data={**form, "csrf": ""}, headers={"Origin": ORIGIN}, base_url=ORIGIN).status_code == 403
    assert all(asked["action"] != "redeliver_event" for asked in world.asked)
    done = client.post(path, data=form, headers={"Origin": ORIGIN}, base_url=ORIGIN)
    assert done.status_code == 200 and 'id="queued"' in done.text
    assert {"action": "redeliver_event", "endpoint_id": endpoint_id, "event_id": attempt["event_id"]} in world.asked
    world.answers["redeliver_event"] = AdminRefused("conflict", "the endpoint is disabled")
    assert client.post(path, data=form, headers={"Origin": ORIGIN}, base_url=ORIGIN).status_code == 409


def test_the_alarms_of_this_deployment_worst_first_and_no_other_deployments() -> None:
    import boto3
    from moto import mock_aws

    from payments_cli.console.alarms import read_alarms

    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        for name in (
            "payment-api-5xx-dev-alpha",
            "payment-outbox-age-dev-alpha",
            "payment-api-5xx-dev-alpha2",
            "payment-api-5xx-staging-alpha",
            "other-thing-dev-alpha",
        ):
            cloudwatch.put_metric_alarm(
                AlarmName=name,
                MetricName="Errors",
                Namespace="AWS/Lambda",
                Statistic="Sum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=1,
                ComparisonOperator="GreaterThanThreshold",
            )
        cloudwatch.set_alarm_state(AlarmName="payment-outbox-age-dev-alpha", StateValue="ALARM", StateReason="old")
        found = read_alarms(cloudwatch, "dev", "alpha")
    assert [(a["name"], a["state"]) for a in found] == [
        ("payment-outbox-age-dev-alpha", "ALARM"),
        ("payment-api-5xx-dev-alpha", "OK"),
    ]
    assert found[0]["reason"] == "old" and found[0]["since"]


def test_the_overview_shows_alarm_states_and_survives_their_absence() -> None:
    from payments_cli.console.alarms import AlarmsUnavailable

    alarm = {"name": "payment-api-5xx-dev-x", "state": "ALARM", "since": "t", "reason": "<i>5xx</i>"}
    answers: list[Any] = [[alarm], [], AlarmsUnavailable("the local emulator is not running")]

    def alarms() -> list[dict[str, Any]]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return list(answer)

    world = World()
    world.app = ConsoleApp(deployment="dev/x", port=PORT, admin=world.read, sessions=world.sessions, alarms=alarms)
    client = world.signed_in()
    shown = client.get("/overview", base_url=ORIGIN).text
    assert '<tr class="state-alarm"><td>payment-api-5xx-dev-x</td>' in shown and "&lt;i&gt;5xx" in shown
    assert 'id="no-alarms"' in client.get("/overview", base_url=ORIGIN).text
    down = client.get("/overview", base_url=ORIGIN)
    assert down.status_code == 200 and "emulator is not running" in down.text and 'id="processing"' in down.text


def test_a_form_too_large_is_refused_before_anything_is_done() -> None:
    world = keys_world()
    client = world.signed_in()
    csrf = csrf_of(client.get("/keys", base_url=ORIGIN).text)
    big = client.post(
        "/keys", data={"csrf": csrf, "merchant_id": "m" * 20_000}, headers={"Origin": ORIGIN}, base_url=ORIGIN
    )
    assert big.status_code == 413 and big.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert all(asked["action"] != "create_key" for asked in world.asked)


def test_numbers_too_long_for_an_int_are_refused_not_a_crash() -> None:
    """Review: 4,301 digits made int() raise (a 500 without the console's headers)."""
    world = keys_world()
    client = world.signed_in()
    for name in ("amount_min", "amount_max"):
        refused = client.get("/payments", query_string={name: "9" * 4301}, base_url=ORIGIN)
        assert refused.status_code == 400 and "whole number of minor units" in refused.text
    assert client.get("/payments", query_string={"amount_min": "9" * 20}, base_url=ORIGIN).status_code == 400
    csrf = csrf_of(client.get("/keys", base_url=ORIGIN).text)
    days = client.post(
        "/keys",
        data={"csrf": csrf, "merchant_id": "m_x", "expires_in_days": "0" * 4301 + "5"},
        headers={"Origin": ORIGIN},
        base_url=ORIGIN,
    )
    assert days.status_code == 400 and "1 to 1095" in days.text
    assert all(asked["action"] not in ("create_key", "find_payments") for asked in world.asked)


def test_a_head_request_never_spends_the_sign_in_and_reads_like_a_get() -> None:
    """Review: HEAD /?token= (a link preview) spent the operator's one sign-in."""
    world = World()
    client = world.client()
    assert client.head(f"/?token={world.sessions.token}", base_url=ORIGIN).status_code == 405
    signed = world.signed_in()  # the token still works, once
    assert signed.head("/overview", base_url=ORIGIN).status_code == 200


def test_a_request_line_naming_a_whole_url_is_refused() -> None:
    """Review: with an absolute URL in the request line werkzeug takes the host from it, not from Host."""
    world = World()
    client = world.signed_in()
    response = client.get("/overview", base_url=ORIGIN, environ_overrides={"RAW_URI": f"{ORIGIN}/overview"})
    assert response.status_code == 400 and world.reads == 0


def test_a_connection_that_stops_sending_gives_its_thread_back() -> None:
    """Review: 300 half-sent requests held 300 threads for as long as their clients liked."""
    import socket
    import threading
    import time

    from payments_cli.console.server import ConsoleServer

    server = ConsoleServer(0, World().app, read_timeout_s=0.3)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as slow:
            slow.sendall(b"GET /overview HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n")  # never finished
            started = time.monotonic()
            assert slow.recv(1024) == b"", "the server closed the connection"
            assert time.monotonic() - started < 3
    finally:
        server.shutdown()
        server.server_close()


def test_the_deployment_page_lists_an_optional_part_setting_by_setting_or_says_it_is_off() -> None:
    from payments_cli.console.deployment import describe

    staging, dev = describe("staging", "x", None)["config"], describe("dev", "x", None)["config"]
    assert staging["proxy.max_connections_percent"] == "90" and "proxy" not in staging
    assert dev["proxy"] == "off" and dev["alarms"] == "off" and not any(key.startswith("proxy.") for key in dev)
    assert not any(value.startswith(("{", "None")) for value in [*staging.values(), *dev.values()])
