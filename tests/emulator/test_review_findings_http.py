"""The security review's findings (issue "Security: one canonical credential …"), each reproduced over HTTP
on the local target as the reviewer reproduced it, and shown fixed. Shares the session's dev/alpha
deployment; every test makes its own merchant."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from payments_cli.local.records import DeploymentRecord
from payments_infra.environments import DEV
from tests.emulator.conftest import Cli
from tests.emulator.test_security_http import Client, new_key, one_address, pay

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(900)]


@pytest.fixture
def api(alpha: DeploymentRecord) -> Client:
    # A source address of each test's own: the junk credentials one test sends count against its address alone
    # (WAF's per-address rule for credentials that are not a key), never against the next test's.
    return Client(str(alpha["api"]["url"]), source=one_address())


@pytest.mark.parametrize("route", ["capture", "refunds"])
def test_a_null_amount_on_capture_or_refund_is_422_and_moves_nothing(cli: Cli, api: Client, route: str) -> None:
    """Finding 3: ``{"amount": null}`` captured 10000 of 10000 and refunded the rest; omitted means all,
    ``null`` is refused."""
    secret = str(new_key(cli, f"merch_null_{uuid.uuid4().hex[:8]}")["secret"])
    manual = route == "capture"
    status, _, payment = api.call(
        "POST",
        "/payments",
        secret=secret,
        key=str(uuid.uuid4()),
        body=pay(10000, **({"capture_method": "manual"} if manual else {})),
    )
    assert status == 201, payment
    key = str(uuid.uuid4())
    status, _, refused = api.call(
        "POST", f"/payments/{payment['id']}/{route}", secret=secret, key=key, body='{"amount": null}'
    )
    assert (status, refused["error"]["code"], refused["error"]["field"]) == (422, "validation_error", "amount")
    status, _, after = api.call("GET", f"/payments/{payment['id']}", secret=secret)
    assert (status, after["status"], after["amount_captured"], after["amount_refunded"]) == (
        200,
        payment["status"],
        payment["amount_captured"],
        0,
    )
    status, _, refunds = api.call("GET", f"/payments/{payment['id']}/refunds", secret=secret)
    assert (status, refunds["data"]) == (200, [])
    # The refusal kept nothing under its key: the same key with the amount left out does the whole amount.
    status, _, whole = api.call("POST", f"/payments/{payment['id']}/{route}", secret=secret, key=key, body={})
    assert status in (200, 201) and whole["amount"] == 10000, whole


def test_iso_4217_funds_are_refused(cli: Cli, api: Client) -> None:
    """Finding 7: the fund codes were accepted although the README says funds are refused."""
    secret = str(new_key(cli, f"merch_fund_{uuid.uuid4().hex[:8]}")["secret"])
    for code in ("BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"):
        status, _, refused = api.call(
            "POST", "/payments", secret=secret, key=str(uuid.uuid4()), body={**pay(500), "currency": code}
        )
        assert (status, refused["error"]["code"], refused["error"]["field"]) == (
            422,
            "currency_unsupported",
            "currency",
        ), code
    status, _, listed = api.call("GET", "/payments", secret=secret)
    assert (status, listed["data"]) == (200, [])


def raw_call(api: Client, method: str, path: str, headers: list[tuple[str, str]], body: str = "") -> tuple[int, Any]:
    """A request with exactly these header lines, duplicates and name cases as given (http.client's
    ``request`` would merge nothing, but its dict of headers cannot hold two spellings of one name's case)."""
    api.conn.putrequest(method, api.stage + path, skip_accept_encoding=True)
    for name, value in [*headers, ("Content-Length", str(len(body.encode())))]:
        api.conn.putheader(name, value)
    api.conn.endheaders(body.encode() or None)
    response = api.conn.getresponse()
    return response.status, json.loads(response.read() or b"null")


JUNK_CREDENTIALS = ["Bearer undefined", "Bearer null", "Bearer None", "Bearer x"]


@pytest.mark.parametrize("junk", JUNK_CREDENTIALS)
def test_two_authorization_headers_never_authenticate_nor_lend_a_key_to_a_later_client(
    cli: Cli, api: Client, junk: str
) -> None:
    """Finding 1: ``authorization: Bearer <B's key>`` plus ``Authorization: Bearer undefined`` was checked on
    the first and cached under the second; a later client sending only ``Bearer undefined`` then paid as B."""
    merchant = f"merch_dup_{uuid.uuid4().hex[:8]}"
    secret = str(new_key(cli, merchant)["secret"])
    body = json.dumps(pay(700))
    for pair in (
        [("authorization", f"Bearer {secret}"), ("Authorization", junk)],
        [("Authorization", junk), ("authorization", f"Bearer {secret}")],
        [("Authorization", f"Bearer {secret}"), ("Authorization", f"Bearer {secret}")],
        [("Authorization", f"Bearer {secret}, {junk}")],
    ):
        headers = [*pair, ("Content-Type", "application/json"), ("Idempotency-Key", str(uuid.uuid4()))]
        status, answer = raw_call(api, "POST", "/payments", headers, body)
        assert status == 401, (pair, answer)
    # The later client with the junk credential alone is nobody.
    status, _, answer = api.call("POST", "/payments", authorization=junk, key=str(uuid.uuid4()), body=pay(700))
    assert status == 401, answer
    status, _, listed = api.call("GET", "/payments", secret=secret)
    assert (status, listed["data"]) == (200, []), "nothing was paid in the merchant's name"


def test_every_spelling_of_one_key_shares_its_one_rate_limit(cli: Cli, api: Client) -> None:
    """Finding 2: varying the spaces after ``Bearer`` or its case got 463 of 464 requests past a key's limit.
    Now WAF counts every spelling as one key, and only ``Bearer``'s case variants authenticate."""
    limit = DEV.api_rate_limit_per_credential  # what the alpha (dev) deployment's WAF rule was given
    secret = str(new_key(cli, f"merch_spell_{uuid.uuid4().hex[:8]}")["secret"])
    spellings = [f"Bearer {secret}", f"bearer {secret}", f"BEARER {secret}", f"Bearer  {secret}", f"bEaReR \t {secret}"]
    answered: dict[int, int] = {}
    passed = 0
    for i in range(limit + 2 * len(spellings)):
        status, _, _ = api.call("GET", "/payments/pay_" + "d" * 26, authorization=spellings[i % len(spellings)])
        answered[status] = answered.get(status, 0) + 1
        passed += status != 429
        if i < limit:
            # Within the limit: the canonical spellings reach the processor (404: no such payment); the others
            # are refused by the authorizer before any lookup.
            assert status == (404 if i % len(spellings) < 3 else 401), (i, status)
        else:
            assert status == 429, (i, status)
    assert passed == limit, answered
    print(f"rate limit over {len(spellings)} spellings of one key: {answered}")


def test_a_nul_or_invisible_character_in_a_list_cursor_is_400_not_500(cli: Cli, api: Client) -> None:
    """Finding 6: ``starting_after=%00`` was a 500 on all three lists (any client could raise 5xx alarms)."""
    secret = str(new_key(cli, f"merch_nul_{uuid.uuid4().hex[:8]}")["secret"])
    status, _, payment = api.call("POST", "/payments", secret=secret, key=str(uuid.uuid4()), body=pay(900))
    assert status == 201
    for path in ("/payments", f"/payments/{payment['id']}/refunds", "/events"):
        for cursor in ("%00", "pay_%00", "%E2%80%8B", "pay%20x"):
            for name in ("starting_after", "ending_before"):
                status, _, answer = api.call("GET", f"{path}?{name}={cursor}", secret=secret)
                assert (status, answer["error"]["code"], answer["error"]["field"]) == (
                    400,
                    "invalid_parameter",
                    name,
                ), (path, cursor)


def test_the_location_of_a_new_payment_can_be_followed(cli: Cli, api: Client) -> None:
    """Finding 9: ``Location`` lacked the stage (``/payments/pay_…`` instead of ``/v1/payments/…``), so following
    it answered 403."""
    secret = str(new_key(cli, f"merch_loc_{uuid.uuid4().hex[:8]}")["secret"])
    status, headers, payment = api.call("POST", "/payments", secret=secret, key=str(uuid.uuid4()), body=pay(300))
    assert status == 201 and headers["location"] == f"{api.stage}/payments/{payment['id']}"
    api.conn.request("GET", headers["location"], headers={"Authorization": f"Bearer {secret}"})
    followed = api.conn.getresponse()
    read = json.loads(followed.read())
    attempts = read.pop("attempts")
    assert followed.status == 200 and read == payment
    # Every attempt at the acquirer, recorded before it was sent (here the local target's simulated acquirer).
    assert [(a["id"], a["connector"], a["outcome"]) for a in attempts] == [
        ("att_" + payment["id"].removeprefix("pay_"), "simulated", "approved")
    ]


@pytest.mark.parametrize("separator", ["\u200b", "\u00ad", "\u2060", "\u200c", "\u2022", "\u00b7"])
def test_a_card_number_joined_by_invisible_or_bullet_separators_is_refused(
    cli: Cli, api: Client, separator: str
) -> None:
    """Finding 5: these six separators let a card number through the screen into description and metadata."""
    secret = str(new_key(cli, f"merch_sep_{uuid.uuid4().hex[:8]}")["secret"])
    card = separator.join(["4111", "1111", "1111", "1111"])
    for body, field in ((pay(description=f"card {card}"), "description"), (pay(metadata={"note": card}), "metadata")):
        status, _, refused = api.call("POST", "/payments", secret=secret, key=str(uuid.uuid4()), body=body)
        assert (status, refused["error"]["code"], refused["error"]["field"]) == (422, "card_number_refused", field)
    status, _, listed = api.call("GET", "/payments", secret=secret)
    assert (status, listed["data"]) == (200, []), "nothing was stored"


def test_a_card_number_in_the_url_path_is_not_written_to_the_access_log(cli: Cli, api: Client) -> None:
    """Finding 4: ``GET /payments/4000056655665556`` (404) was logged with its path in full; the deployed access
    log keeps only the route's template, and the local one now does the same."""
    secret = str(new_key(cli, f"merch_log_{uuid.uuid4().hex[:8]}")["secret"])
    card = "4000056655665556"
    for path in (f"/payments/{card}", f"/payments/{card}/refunds", f"/nowhere/{card}"):
        status, _, _ = api.call("GET", path, secret=secret)
        assert status in (403, 404), (path, status)
    logs = cli.state_dir / "deployments" / "dev-alpha" / "logs"
    access = (logs / "access.log").read_text()
    assert '"resourcePath": "/payments/{id}"' in access, "the requests were logged, by their route"
    for log in logs.rglob("*"):
        if log.is_file():
            assert card not in log.read_text(errors="replace"), f"the card number is in {log.name}"


def test_the_health_path_tells_nothing_and_a_method_a_path_does_not_serve_is_404_as_documented(
    cli: Cli, api: Client
) -> None:
    """Finding 10: the health path answered anyone with the routes, the rate limit and the emulator's URL, and a
    method a path does not serve was 404 ``route_not_found`` where the README listed 405. The README now says what
    API Gateway does (it answers a method a path does not serve itself, as for a path that does not exist)."""
    api.conn.request("GET", "/__payments/health")
    answer = api.conn.getresponse()
    assert (answer.status, json.loads(answer.read())) == (200, {"status": "ok"})
    secret = str(new_key(cli, f"merch_methods_{uuid.uuid4().hex[:8]}")["secret"])
    for method, path in (("DELETE", "/payments"), ("PUT", "/payments/pay_" + "e" * 26), ("GET", "/refunds")):
        status, _, body = api.call(method, path, secret=secret)
        assert (status, body["error"]["code"]) == (404, "route_not_found"), (method, path)
