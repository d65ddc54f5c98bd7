"""The webhook endpoints API over HTTP on the local target (dev/alpha, the session's one deployment): the
authorizer, the edge and the deployed processor with its KMS key in moto, attacked as a client would. Every
test makes its own merchant."""

from __future__ import annotations

import base64
import json
import multiprocessing
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

import pytest

from payments_cli.local.records import DeploymentRecord
from tests.emulator.conftest import Cli
from tests.emulator.test_merchant_api_http import raw_post
from tests.emulator.test_review_findings_http import raw_call
from tests.emulator.test_security_http import Client, new_key

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(900)]

HOOK = {"url": "http://127.0.0.1:9/hooks", "enabled_events": ["payment.succeeded", "refund.succeeded"]}


@pytest.fixture(scope="module")
def api(alpha: DeploymentRecord) -> Client:
    return Client(str(alpha["api"]["url"]))


def merchant(cli: Cli, name: str) -> str:
    return str(new_key(cli, f"merch_{name}_{uuid.uuid4().hex[:8]}")["secret"])


def make(api: Client, secret: str, body: Any = None, key: str | None = None) -> tuple[int, dict[str, str], Any]:
    return api.call("POST", "/webhook_endpoints", secret=secret, key=key or str(uuid.uuid4()), body=body or HOOK)


def test_an_endpoint_is_made_read_changed_rolled_and_deleted(cli: Cli, api: Client) -> None:
    secret = merchant(cli, "hooks")
    key = str(uuid.uuid4())
    status, headers, made = make(api, secret, {**HOOK, "description": "orders"}, key)
    assert status == 201, made
    assert made["object"] == "webhook_endpoint" and made["status"] == "enabled" and made["id"].startswith("we_")
    assert made["enabled_events"] == HOOK["enabled_events"] and made["url"] == HOOK["url"]
    assert made["secret"].startswith("whsec_") and len(base64.b64decode(made["secret"][6:])) >= 24
    assert headers["location"].endswith(f"/webhook_endpoints/{made['id']}")
    # The replay shows the same secret; nothing else ever does.
    status, headers, replay = make(api, secret, {**HOOK, "description": "orders"}, key)
    assert (status, headers.get("idempotent-replayed"), replay) == (201, "true", made)
    endpoint = {k: v for k, v in made.items() if k != "secret"}
    status, _, read = api.call("GET", f"/webhook_endpoints/{made['id']}", secret=secret)
    assert (status, read) == (200, endpoint)
    status, _, listed = api.call("GET", "/webhook_endpoints", secret=secret)
    assert (status, listed) == (200, {"object": "list", "data": [endpoint], "has_more": False})

    status, _, changed = api.call(
        "POST",
        f"/webhook_endpoints/{made['id']}",
        secret=secret,
        key=str(uuid.uuid4()),
        body={"enabled_events": ["*"], "status": "disabled"},
    )
    assert (status, changed["enabled_events"], changed["status"], changed["description"]) == (
        200,
        ["*"],
        "disabled",
        "orders",
    )
    assert "secret" not in changed
    status, _, rolled = api.call(
        "POST",
        f"/webhook_endpoints/{made['id']}/roll_secret",
        secret=secret,
        key=str(uuid.uuid4()),
        body={"expires_in_s": 60},
    )
    assert status == 200 and rolled["secret"].startswith("whsec_") and rolled["secret"] != made["secret"]

    status, _, deleted = api.call("DELETE", f"/webhook_endpoints/{made['id']}", secret=secret)
    assert (status, deleted) == (200, {"id": made["id"], "object": "webhook_endpoint", "deleted": True})
    status, _, gone = api.call("GET", f"/webhook_endpoints/{made['id']}", secret=secret)
    assert (status, gone["error"]["code"]) == (404, "not_found")

    # The secrets never reach a log of the deployment.
    logs = cli.state_dir / "deployments" / "dev-alpha" / "logs"
    for log in logs.rglob("*"):
        if log.is_file():
            text = log.read_text(errors="replace")
            assert made["secret"] not in text and rolled["secret"] not in text, f"a secret is in {log.name}"


def test_another_merchants_endpoint_is_byte_identical_to_an_unknown_one(cli: Cli, api: Client) -> None:
    mine, theirs = merchant(cli, "mine"), merchant(cli, "theirs")
    status, _, their_endpoint = make(api, theirs)
    assert status == 201
    unknown = "we_" + "a" * 26
    for method, suffix, body in (
        ("GET", "", None),
        ("POST", "", {"status": "disabled"}),
        ("DELETE", "", None),
        ("POST", "/roll_secret", {}),
    ):
        answers = []
        for endpoint_id in (their_endpoint["id"], unknown):
            status, _, answer = api.call(
                method,
                f"/webhook_endpoints/{endpoint_id}{suffix}",
                secret=mine,
                key=str(uuid.uuid4()) if method == "POST" else None,
                body=body,
            )
            answer["error"].pop("request_id", None)
            answers.append((status, answer))
        assert answers[0] == answers[1] and answers[0][0] == 404, (method, suffix, answers)
    status, _, still = api.call("GET", f"/webhook_endpoints/{their_endpoint['id']}", secret=theirs)
    assert (status, still["status"]) == (200, "enabled")
    status, _, listed = api.call("GET", "/webhook_endpoints", secret=mine)
    assert (status, listed["data"]) == (200, [])
    # Their endpoint as my list's cursor names nothing of mine.
    status, _, _ = api.call("GET", f"/webhook_endpoints?starting_after={their_endpoint['id']}", secret=mine)
    assert status == 404


def test_a_read_only_key_reads_but_changes_nothing(cli: Cli, api: Client) -> None:
    name = f"merch_ro_{uuid.uuid4().hex[:8]}"
    writer = str(new_key(cli, name)["secret"])
    reader = str(new_key(cli, name, "--read-only")["secret"])
    status, _, made = make(api, writer)
    assert status == 201
    assert api.call("GET", f"/webhook_endpoints/{made['id']}", secret=reader)[0] == 200
    assert api.call("GET", "/webhook_endpoints", secret=reader)[0] == 200
    for method, path in (
        ("POST", "/webhook_endpoints"),
        ("POST", f"/webhook_endpoints/{made['id']}"),
        ("POST", f"/webhook_endpoints/{made['id']}/roll_secret"),
        ("DELETE", f"/webhook_endpoints/{made['id']}"),
    ):
        status, _, refused = api.call(method, path, secret=reader, key=str(uuid.uuid4()), body=HOOK)
        assert (status, refused["error"]["code"]) == (403, "insufficient_permissions"), (method, path)
    status, _, listed = api.call("GET", "/webhook_endpoints", secret=writer)
    assert [e["id"] for e in listed["data"]] == [made["id"]] and listed["data"][0]["status"] == "enabled"


BAD_BODIES = [
    ({**HOOK, "url": None}, "validation_error", "url"),
    ({**HOOK, "url": 5}, "validation_error", "url"),
    ({**HOOK, "url": "ftp://example.com/"}, "invalid_url", "url"),
    ({**HOOK, "url": "https://user:pw@example.com/"}, "invalid_url", "url"),
    ({**HOOK, "url": "https://example.com/#frag"}, "invalid_url", "url"),
    ({**HOOK, "url": "https://exa\u200bmple.com/"}, "invalid_url", "url"),
    ({**HOOK, "url": "https://example.com/\u0000"}, "invalid_character", "url"),
    ({**HOOK, "url": "http://169.254.169.254/latest/meta-data/"}, "url_not_allowed", "url"),
    ({**HOOK, "url": "http://10.0.0.5/"}, "url_not_allowed", "url"),
    ({**HOOK, "url": "http://[::ffff:169.254.169.254]/"}, "url_not_allowed", "url"),
    ({**HOOK, "url": "https://example.com/4242424242424242"}, "card_number_refused", "url"),
    ({**HOOK, "enabled_events": None}, "validation_error", "enabled_events"),
    ({**HOOK, "enabled_events": []}, "validation_error", "enabled_events"),
    ({**HOOK, "enabled_events": ["payment.exploded"]}, "validation_error", "enabled_events"),
    ({**HOOK, "enabled_events": ["*", "payment.succeeded"]}, "validation_error", "enabled_events"),
    ({**HOOK, "enabled_events": ["payment.succeeded", "payment.succeeded"]}, "validation_error", "enabled_events"),
    ({**HOOK, "enabled_events": [None]}, "validation_error", "enabled_events"),
    ({**HOOK, "description": "x\u00adx" * 200}, "validation_error", "description"),
    ({**HOOK, "secret": "whsec_mine"}, "validation_error", None),
    ({**HOOK, "merchant_id": "merch_other"}, "validation_error", "merchant_id"),
]


@pytest.mark.parametrize(("body", "code", "field"), BAD_BODIES)
def test_a_bad_body_is_refused_and_makes_nothing(
    cli: Cli, api: Client, body: Any, code: str, field: str | None
) -> None:
    secret = merchant(cli, "bad")
    status, _, refused = make(api, secret, body)
    assert (status, refused["error"]["code"], refused["error"].get("field")) == (422, code, field), refused
    for value in (body.get("url"), body.get("description")):
        if isinstance(value, str):
            assert value not in json.dumps(refused), "the refusal echoes what was sent"
    assert api.call("GET", "/webhook_endpoints", secret=secret)[2]["data"] == []


def test_bad_numbers_on_roll_and_update_change_nothing(cli: Cli, api: Client) -> None:
    secret = merchant(cli, "nums")
    status, _, made = make(api, secret)
    assert status == 201
    path = f"/webhook_endpoints/{made['id']}"
    for value in (None, 1.5, "60", -1, 86401, 2**63, True):
        status, _, refused = api.call(
            "POST", f"{path}/roll_secret", secret=secret, key=str(uuid.uuid4()), body={"expires_in_s": value}
        )
        assert (status, refused["error"]["field"]) == (422, "expires_in_s"), (value, refused)
    for body in ({"status": None}, {"status": "paused"}, {"url": None}, {"enabled_events": None}, {"status": 1}):
        status, _, refused = api.call("POST", path, secret=secret, key=str(uuid.uuid4()), body=body)
        assert status == 422 and refused["error"]["field"] in body, (body, refused)
    status, _, same = api.call("GET", path, secret=secret)
    assert {k: v for k, v in made.items() if k != "secret"} == same


def test_idempotency_key_rules_hold_on_endpoint_routes(cli: Cli, api: Client) -> None:
    secret = merchant(cli, "keys")
    key = str(uuid.uuid4())
    assert make(api, secret, key=key)[0] == 201
    # The same key with another body, or on another route, is 422 and changes nothing.
    status, _, reused = make(api, secret, {**HOOK, "url": "http://127.0.0.1:9/other"}, key)
    assert (status, reused["error"]["code"]) == (422, "idempotency_key_reused")
    status, _, payment = api.call(
        "POST",
        "/payments",
        secret=secret,
        key=key,
        body={"amount": 100, "currency": "EUR", "payment_method": "tok_visa"},
    )
    assert (status, payment["error"]["code"]) == (422, "idempotency_key_reused")
    # Missing, NUL or invisible characters in the key are refused before anything is made.
    status, _, missing = api.call("POST", "/webhook_endpoints", secret=secret, body=HOOK)
    assert (status, missing["error"]["code"]) == (400, "missing_idempotency_key")
    assert len(api.call("GET", "/webhook_endpoints", secret=secret)[2]["data"]) == 1


def test_duplicate_authorization_headers_reach_no_endpoint(cli: Cli, api: Client) -> None:
    secret = merchant(cli, "dup")
    for headers in (
        [("Authorization", f"Bearer {secret}"), ("authorization", "Bearer undefined")],
        [("authorization", f"Bearer {secret}"), ("AUTHORIZATION", f"Bearer {secret}")],
    ):
        body = json.dumps(HOOK)
        sent = [*headers, ("Idempotency-Key", str(uuid.uuid4())), ("Content-Type", "application/json")]
        status, answer = raw_call(api, "POST", "/webhook_endpoints", sent, body)
        assert status == 401, answer
    assert api.call("GET", "/webhook_endpoints", secret=secret)[2]["data"] == []


def test_concurrent_creates_over_http_stop_at_sixteen(cli: Cli, api: Client, alpha: DeploymentRecord) -> None:
    secret = merchant(cli, "limit")
    url = str(alpha["api"]["url"])

    def one(_: int) -> int:
        return Client(url).call("POST", "/webhook_endpoints", secret=secret, key=str(uuid.uuid4()), body=HOOK)[0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(one, range(20)))
    assert statuses == [201] * 16 + [422] * 4
    status, _, page = api.call("GET", "/webhook_endpoints?limit=100", secret=secret)
    assert (status, len(page["data"]), page["has_more"]) == (200, 16, False)
    status, _, refused = make(api, secret)
    assert (status, refused["error"]["code"]) == (422, "too_many_endpoints")


INVISIBLE = ("\u0000", "\u200b", "\u00ad")
CARD = "4000056655665556"


def test_nul_invisible_characters_and_card_numbers_in_every_part_change_nothing(cli: Cli, api: Client) -> None:
    """In the body's strings, the Idempotency-Key, the query and the path of every endpoint route: a clear 4xx,
    nothing made or changed, nothing echoed, no card number in any log."""
    secret = merchant(cli, "hostile")
    status, _, made = make(api, secret)
    assert status == 201
    path = f"/webhook_endpoints/{made['id']}"
    for text in INVISIBLE:
        for body in ({**HOOK, "description": f"a{text}b"}, {**HOOK, "url": f"http://127.0.0.1:9/a{text}b"}):
            status, _, refused = make(api, secret, body)
            # NUL: invalid_character; U+200B, U+00AD in a URL: invalid_url; in a description they are text.
            assert status in (201, 422), (text, body, refused)
            if status == 201:
                assert body["description"] == f"a{text}b" and text != "\u0000"
                assert api.call("DELETE", f"/webhook_endpoints/{refused['id']}", secret=secret)[0] == 200
        for route in ("/webhook_endpoints", path, f"{path}/roll_secret"):
            status, refused = raw_post(
                api,
                route,
                secret,
                json.dumps(HOOK if route == "/webhook_endpoints" else {}).encode(),
                f"k{text}ey".encode(),
            )
            assert 400 <= status < 500, (text, route, status, refused)
        for query in (
            f"limit=1{quote(text)}",
            f"starting_after={quote(made['id'] + text)}",
            f"ending_before={quote(text)}",
        ):
            status, _, refused = api.call("GET", f"/webhook_endpoints?{query}", secret=secret)
            assert (status, refused["error"]["code"]) == (400, "invalid_parameter"), (query, refused)
        for method in ("GET", "POST", "DELETE"):
            status, _, refused = api.call(
                method,
                f"{path}{quote(text)}",
                secret=secret,
                key=str(uuid.uuid4()) if method == "POST" else None,
                body={} if method == "POST" else None,
            )
            assert status == 404, (text, method, refused)
    for value in ("null", "1.5", str(2**63), "-1", "0"):
        status, _, refused = api.call("GET", f"/webhook_endpoints?limit={value}", secret=secret)
        assert (status, refused["error"]["field"]) == (400, "limit"), value
    for method, route in (
        ("GET", f"/webhook_endpoints/{CARD}"),
        ("POST", f"/webhook_endpoints/{CARD}"),
        ("DELETE", f"/webhook_endpoints/{CARD}"),
        ("POST", f"/webhook_endpoints/{CARD}/roll_secret"),
        ("GET", f"/webhook_endpoints?starting_after={CARD}"),
    ):
        status, _, refused = api.call(
            method,
            route,
            secret=secret,
            key=str(uuid.uuid4()) if method == "POST" else None,
            body={} if method == "POST" else None,
        )
        assert status in (404, 422) and CARD not in json.dumps(refused), (method, route, status)
    status, _, listed = api.call("GET", "/webhook_endpoints", secret=secret)
    assert [e["id"] for e in listed["data"]] == [made["id"]]
    assert {k: v for k, v in listed["data"][0].items()} == {k: v for k, v in made.items() if k != "secret"}
    logs = cli.state_dir / "deployments" / "dev-alpha" / "logs"
    for log in logs.rglob("*"):
        if log.is_file():
            assert CARD not in log.read_text(errors="replace"), f"the card number is in {log.name}"


def _create_in_a_process(url: str, secret: str, key: str, barrier: Any) -> tuple[int, str]:
    api = Client(url)
    barrier.wait()
    status, _, body = api.call("POST", "/webhook_endpoints", secret=secret, key=key, body=HOOK)
    return status, json.dumps(body, sort_keys=True)


def test_one_key_raced_from_eight_processes_makes_one_endpoint(cli: Cli, api: Client, alpha: DeploymentRecord) -> None:
    secret = merchant(cli, "race")
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(8)
    with context.Pool(8) as pool:
        answers = pool.starmap(_create_in_a_process, [(str(alpha["api"]["url"]), secret, "raced", barrier)] * 8)
    statuses = sorted(status for status, _ in answers)
    assert set(statuses) <= {201, 409} and 201 in statuses, statuses
    made = {body for status, body in answers if status == 201}
    assert len(made) == 1, "every 201 is the same answer, the same secret in it"
    status, _, listed = api.call("GET", "/webhook_endpoints", secret=secret)
    assert (status, [e["id"] for e in listed["data"]]) == (200, [json.loads(made.pop())["id"]])
