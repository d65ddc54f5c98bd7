"""Authentication, scoping, rate limiting and card-data refusal over HTTP on the local target: the
authorizer and the processor run from the deployed zip, the limits and answers are the ones deployed
to the emulator (API Gateway authorizer, gateway responses, the WAF rule). Shares the session's
dev/alpha deployment; every test makes its own keys."""

from __future__ import annotations

import collections
import http.client
import json
import secrets
import string
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from payments_cli.local.emulator import emulator_client
from payments_cli.local.records import DeploymentRecord
from payments_infra.environments import DEV
from tests.emulator.conftest import Cli

# A deploy is minutes of real terraform against the emulator: well past the suite-wide 300 s per test.
pytestmark = [pytest.mark.emulator, pytest.mark.timeout(900)]
SUFFIX = "alpha"
#: The dev environment's authorizer cache time (environments.DEV.api_authorizer_cache_s).
CACHE_S = 10


class Client:
    """HTTP/1.1 to the served API, one persistent connection."""

    def __init__(self, url: str, *, source: str | None = None) -> None:
        parts = urlsplit(url)
        self.stage = parts.path
        # A source address of its own (any 127.x.y.z is this machine): what the server sees as the client's.
        bind = None if source is None else (source, 0)
        self.conn = http.client.HTTPConnection(
            parts.hostname or "127.0.0.1", parts.port, timeout=30, source_address=bind
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        secret: str | None = None,
        body: Any = None,
        key: str | None = None,
        authorization: str | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers["Authorization"] = f"Bearer {secret}"
        if authorization is not None:
            headers["Authorization"] = authorization
        if key is not None:
            headers["Idempotency-Key"] = key
        payload = json.dumps(body) if body is not None and not isinstance(body, str) else body
        self.conn.request(method, self.stage + path, body=payload, headers=headers)
        response = self.conn.getresponse()
        raw = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, json.loads(raw or b"null")


def keys(cli: Cli, *args: str) -> tuple[int, Any, str]:
    result = cli.run("keys", *args, "--suffix", SUFFIX, "--format", "json")
    return result.returncode, json.loads(result.stdout) if result.returncode == 0 else None, result.stderr


def new_key(cli: Cli, merchant: str, *extra: str) -> dict[str, Any]:
    code, key, err = keys(cli, "create", "--merchant", merchant, *extra)
    assert code == 0, err
    return dict(key)


@pytest.fixture
def api(alpha: DeploymentRecord) -> Client:
    # A source address of each test's own: the junk credentials one test sends count against its address alone
    # (WAF's per-address rule for credentials that are not a key), never against the next test's.
    return Client(str(alpha["api"]["url"]), source=one_address())


def pay(amount: int = 1999, **extra: Any) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR", "payment_method": "tok_visa", **extra}


def test_every_answer_of_authentication(cli: Cli, api: Client) -> None:
    writer = new_key(cli, "merch_auth")
    reader = new_key(cli, "merch_auth", "--read-only")
    assert writer["secret"].startswith("sk_test_") and reader["secret"].startswith("rk_test_")
    assert writer["merchant_id"] == "merch_auth" and reader["read_only"] is True and writer["read_only"] is False

    status, headers, body = api.call("POST", "/payments", body=pay(), key="a1")
    assert (status, body["error"]["code"], headers["www-authenticate"]) == (401, "authentication_required", "Bearer")
    status, _, body = api.call("POST", "/payments", body=pay(), key="a1", authorization="Basic dXNlcjpwYXNz")
    assert (status, body["error"]["code"]) == (401, "authentication_required")
    status, headers, body = api.call("POST", "/payments", body=pay(), key="a1", secret="sk_test_" + "x" * 43)
    assert (status, body["error"]["code"]) == (401, "invalid_api_key")
    assert headers["www-authenticate"].startswith("Bearer")
    status, _, body = api.call("POST", "/payments", body=pay(), key="a1", secret=reader["secret"])
    assert (status, body["error"]["code"]) == (403, "insufficient_permissions")
    status, _, body = api.call(
        "POST", "/payments", body=pay(merchant_id="merch_other"), key="a1", secret=writer["secret"]
    )
    assert (status, body["error"]["field"]) == (422, "merchant_id")
    status, _, created = api.call("POST", "/payments", body=pay(), key="a1", secret=writer["secret"])
    assert status == 201 and created["merchant_id"] == "merch_auth"
    status, _, read = api.call("GET", f"/payments/{created['id']}", secret=reader["secret"])
    assert status == 200 and read["id"] == created["id"]


def test_another_merchant_sees_nothing_and_probes_nothing(cli: Cli, api: Client, alpha: DeploymentRecord) -> None:
    mine, theirs = new_key(cli, "merch_a")["secret"], new_key(cli, "merch_b")["secret"]
    status, _, created = api.call("POST", "/payments", body=pay(), key="shared-key", secret=mine)
    assert status == 201
    status, _, hidden = api.call("GET", f"/payments/{created['id']}", secret=theirs)
    unknown_status, _, unknown = api.call("GET", "/payments/pay_" + "a" * 26, secret=theirs)
    assert status == unknown_status == 404 and hidden == unknown
    # The same idempotency key with another body: for merch_a a reuse (422), for merch_b a new payment.
    status, _, reused = api.call("POST", "/payments", body=pay(5), key="shared-key", secret=mine)
    assert (status, reused["error"]["code"]) == (422, "idempotency_key_reused")
    status, _, other = api.call("POST", "/payments", body=pay(5), key="shared-key", secret=theirs)
    assert status == 201 and other["merchant_id"] == "merch_b" and other["id"] != created["id"]


def test_a_revoked_key_stops_working_within_the_cache_time(cli: Cli, api: Client) -> None:
    key = new_key(cli, "merch_revoke")
    assert api.call("GET", "/payments/pay_" + "a" * 26, secret=key["secret"])[0] == 404
    result = cli.run("keys", "revoke", key["id"], "--suffix", SUFFIX)
    assert result.returncode == 0 and "revoked" in result.stdout
    revoked_at = time.monotonic()
    while True:
        status, _, body = api.call("GET", "/payments/pay_" + "a" * 26, secret=key["secret"])
        if status == 401:
            assert body["error"]["code"] == "invalid_api_key"
            break
        assert status == 404, "until then the cached answer still lets it through"
        assert time.monotonic() - revoked_at < CACHE_S + 3, "a revoked key must stop within the cache time"
        time.sleep(0.5)
    code, listed, _ = keys(cli, "list", "--merchant", "merch_revoke")
    assert code == 0 and [k["id"] for k in listed] == [key["id"]] and listed[0]["revoked_at"]


def test_a_rolled_key_works_through_its_overlap_then_says_it_expired(cli: Cli, api: Client) -> None:
    first = new_key(cli, "merch_roll", "--expires-in", "90d")
    probe = "/payments/pay_" + "a" * 26
    assert api.call("GET", probe, secret=first["secret"])[0] == 404
    code, second, err = keys(cli, "roll", first["id"], "--overlap", "24h")
    assert code == 0, err
    assert second["secret"].startswith("sk_test_") and second["rolled"]["replaced_by"] == second["id"]
    assert second["expires_at"] > first["expires_at"], "the replacement lives as long as the old key was given"
    # Within the overlap both work, as the same merchant.
    for secret in (first["secret"], second["secret"]):
        status, _, body = api.call("POST", "/payments", secret=secret, body=pay(), key=str(uuid.uuid4()))
        assert (status, body["merchant_id"]) == (201, "merch_roll"), body
    # Rolled with no overlap: the second key stops within the cache time, and says why.
    code, third, err = keys(cli, "roll", second["id"])
    assert code == 0, err
    rolled_at = time.monotonic()
    while True:
        status, _, body = api.call("GET", probe, secret=second["secret"])
        if status == 401:
            break
        assert status == 404 and time.monotonic() - rolled_at < CACHE_S + 3, "must stop within the cache time"
        time.sleep(0.5)
    assert body["error"]["code"] == "invalid_api_key"
    assert f"{second['id']} expired at" in body["error"]["message"] and third["id"] in body["error"]["message"]
    assert second["secret"] not in json.dumps(body)
    assert api.call("GET", probe, secret=third["secret"])[0] == 404
    assert api.call("GET", probe, secret=first["secret"])[0] == 404, "the first key's own overlap still runs"
    # The listing shows each key's expiry, replacement and the hour it was last used; a rolled key rolls no more.
    code, listed, _ = keys(cli, "list", "--merchant", "merch_roll")
    shown = {k["id"]: k for k in listed}
    assert shown[first["id"]]["replaced_by"] == second["id"] and shown[second["id"]]["replaced_by"] == third["id"]
    assert shown[first["id"]]["last_used_at"] and shown[first["id"]]["last_used_at"].endswith(":00:00.000000Z")
    code, _, err = keys(cli, "roll", first["id"])
    assert code == 1 and "already rolled" in err
    code, _, err = keys(cli, "roll", third["id"], "--overlap", "8d")
    assert code == 2 and "between 0 and 7 days" in err, "bad usage"
    code, _, err = keys(cli, "create", "--merchant", "merch_roll", "--expires-in", "soon")
    assert code == 2 and "not a duration" in err


def test_payments_audit_lists_what_the_commands_did_and_who_ran_them(cli: Cli) -> None:
    from payments_cli.local.lambda_runtime.functions import local_actor

    key = new_key(cli, "merch_audited")
    assert keys(cli, "revoke", key["id"])[0] == 0
    assert keys(cli, "revoke", "key_" + "w" * 26)[0] == 1
    result = cli.run("audit", "--since", "1h", "--format", "json", "--suffix", SUFFIX)
    assert result.returncode == 0, result.stderr
    mine = [e for e in json.loads(result.stdout) if e["target"] in (key["id"], "key_" + "w" * 26)]
    me = local_actor()
    assert [(e["action"], e["outcome"], e["actor"]) for e in reversed(mine)] == [
        ("create_key", "ok", me),
        ("revoke_key", "ok", me),
        ("revoke_key", "refused", me),
    ]
    assert key["secret"] not in result.stdout
    text = cli.run("audit", "--limit", "3", "--suffix", SUFFIX)
    assert text.returncode == 0 and "revoke_key" in text.stdout and "3 entry(ies)" in text.stderr
    assert cli.run("audit", "--limit", "0", "--suffix", SUFFIX).returncode == 2


def test_key_management_errors_have_their_exit_codes(cli: Cli) -> None:
    code, _, err = keys(cli, "create", "--merchant", "not a merchant!")
    assert code == 2 and "merchant id" in err
    code, _, err = keys(cli, "revoke", "key_" + "z" * 26)
    assert code == 1 and "no such key" in err


def test_a_key_secret_is_shown_once_and_stored_nowhere(cli: Cli, api: Client, alpha: DeploymentRecord) -> None:
    key = new_key(cli, "merch_hidden")
    secret = key["secret"]
    assert api.call("POST", "/payments", body=pay(), key=str(uuid.uuid4()), secret=secret)[0] == 201
    listing = cli.run("keys", "list", "--suffix", SUFFIX)
    assert listing.returncode == 0 and key["id"] in listing.stdout and secret not in listing.stdout
    status = json.loads(cli.run("status", "--format", "json").stdout)
    places: list[tuple[str, str]] = []
    with psycopg.connect(
        f"host=127.0.0.1 port={status['postgres']['port']} user=postgres dbname={alpha['database']}"
    ) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            rows = conn.execute(f"SELECT row_to_json(t)::text FROM {table} t").fetchall()
            places.append((f"table {table}", "".join(r[0] for r in rows)))
    for path in cli.state_dir.rglob("*"):
        if path.is_file() and path.suffix in (".log", ".json", ".tfstate"):
            places.append((str(path), path.read_text(errors="replace")))
    s3 = emulator_client(str(alpha["emulator"]), "s3")
    state = s3.get_object(Bucket="payment-tfstate-dev-alpha", Key="payments/dev/terraform.tfstate")["Body"].read()
    places.append(("platform state", state.decode()))
    assert len(places) > 10
    for where, text in places:
        assert secret not in text and secret[8:30] not in text, f"the key's secret is in {where}"


def test_each_credential_has_its_own_rate_limit(cli: Cli, api: Client, alpha: DeploymentRecord) -> None:
    limit = DEV.api_rate_limit_per_credential  # what the alpha (dev) deployment's WAF rule was given
    busy, calm = new_key(cli, "merch_busy")["secret"], new_key(cli, "merch_calm")["secret"]
    statuses = [api.call("GET", "/payments/pay_" + "c" * 26, secret=busy)[0] for _ in range(limit)]
    assert set(statuses) == {404}, "up to the limit every request goes through"
    status, headers, body = api.call("GET", "/payments/pay_" + "c" * 26, secret=busy)
    assert (status, body["error"]["code"]) == (429, "rate_limited")
    assert int(headers["retry-after"]) > 0
    assert api.call("GET", "/payments/pay_" + "c" * 26, secret=calm)[0] == 404, "another key is not slowed"
    print(f"rate limit: {limit} requests went through for one key, request {limit + 1} was 429, another key 404")


@pytest.mark.parametrize(
    ("body", "key", "code", "field"),
    [
        (pay(description="card 4111.1111.1111.1111"), None, "card_number_refused", "description"),
        (pay(description="4111  1111  1111  1111"), None, "card_number_refused", "description"),
        (pay(metadata={"4111/1111/1111/1111": "x"}), None, "card_number_refused", "metadata"),
        (pay(customer_id="4111_1111_1111_1111"), None, "card_number_refused", "customer_id"),
        (pay(), "4111-1111-1111-1111", "card_number_refused", "Idempotency-Key"),
        (pay(description="order\u0000"), None, "invalid_character", "description"),
        (pay(metadata={"k": "\ud800"}), None, "invalid_character", "metadata"),
    ],
)
def test_card_numbers_and_unstorable_text_are_refused_and_nothing_lands(
    cli: Cli, api: Client, alpha: DeploymentRecord, body: dict[str, Any], key: str | None, code: str, field: str
) -> None:
    secret = new_key(cli, "merch_card")["secret"]
    raw = json.dumps(body)  # keeps a lone surrogate as the escape \\ud800, as a client would send it
    status, _, answer = api.call("POST", "/payments", body=raw, key=key or str(uuid.uuid4()), secret=secret)
    assert (status, answer["error"]["code"], answer["error"].get("field")) == (422, code, field)
    assert "4111" not in json.dumps(answer)
    status = json.loads(cli.run("status", "--format", "json").stdout)
    with psycopg.connect(
        f"host=127.0.0.1 port={status['postgres']['port']} user=postgres dbname={alpha['database']}"
    ) as conn:
        stored = conn.execute("SELECT count(*) FROM payments WHERE merchant_id = 'merch_card'").fetchone()
    assert stored == (0,)


#: The local target's warm workers of one function (payments_cli.local.lambda_runtime.workers): each learns a
#: lockout on its own.
LOCAL_WORKERS = 4


def one_address() -> str:
    """A loopback source address of this test's own, so a lockout it causes touches no other test."""
    n = secrets.randbelow(250**3)
    return f"127.{n // 250**2 % 250 + 2}.{n // 250 % 250 + 2}.{n % 250 + 2}"


def runs_in_one_window(window_s: int, tries: int = 3) -> Iterator[Callable[[], bool]]:
    """Runs of a test that counts in the deployment's fixed windows (by the clock): each yields whether it ended in
    the window it began in. A run that a boundary fell inside saw two windows' counts, which the test cannot
    choose: the caller runs again (from a fresh address), and a second boundary cannot fall inside a run of a few
    seconds. Fails the test when every run straddled one."""
    for _ in range(tries):
        began = int(time.time() // window_s)

        def ended_in_it(began: int = began) -> bool:
            return int(time.time() // window_s) == began

        yield ended_in_it
    pytest.fail("every run straddled a window boundary")


def failures_counted(cli: Cli, alpha: DeploymentRecord, address: str) -> int:
    status = json.loads(cli.run("status", "--format", "json").stdout)
    with psycopg.connect(
        f"host=127.0.0.1 port={status['postgres']['port']} user=postgres dbname={alpha['database']}"
    ) as conn:
        row = conn.execute(
            "SELECT coalesce(sum(failures), 0) FROM failed_authentications WHERE source_ip = %s::inet", (address,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_key_guessing_from_one_address_costs_at_most_the_bound_in_lookups(
    cli: Cli, api: Client, alpha: DeploymentRecord
) -> None:
    """N distinct well-shaped keys from one address: the first ``limit`` are looked up (plus one for each other
    warm worker at most), the rest refused without a lookup; the address's good key is refused too until the
    window ends, while the same key from another address works.

    The deployment counts in fixed windows by the clock (60 s in dev). A run that a window boundary falls inside
    sees two windows' counts, which the test cannot choose: it is run again from a fresh address, and a second
    boundary cannot fall inside a run of a few seconds."""
    limit, tried = DEV.auth_failure_limit, 4 * DEV.auth_failure_limit  # the alpha (dev) deployment's bound
    window = DEV.auth_failure_window_s
    good = str(new_key(cli, f"merch_guess_{uuid.uuid4().hex[:8]}")["secret"])
    for same_window in runs_in_one_window(window):
        address = one_address()
        guesser = Client(str(alpha["api"]["url"]), source=address)
        answered: collections.Counter[str] = collections.Counter()
        for _ in range(tried):
            guess = "sk_test_" + "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(43))
            status, headers, body = guesser.call("GET", "/payments", secret=guess)
            assert status == 401 and headers["www-authenticate"].startswith("Bearer"), (status, body)
            answered[body["error"]["code"]] += 1
        counted = failures_counted(cli, alpha, address)
        status, _, locked = guesser.call("GET", "/payments", secret=good)
        # The address is the connection's: a forwarding header naming another changes nothing.
        guesser.conn.request(
            "GET",
            guesser.stage + "/payments",
            headers={"Authorization": f"Bearer {good}", "X-Forwarded-For": "10.1.2.3"},
        )
        spoofed = guesser.conn.getresponse()
        spoofed_body = json.loads(spoofed.read())
        still_counted = failures_counted(cli, alpha, address)
        if same_window():
            break
    looked_up = answered["invalid_api_key"]
    assert limit <= looked_up <= limit + LOCAL_WORKERS - 1, answered
    assert answered["too_many_failed_authentications"] == tried - looked_up, answered
    assert counted == looked_up, "each lookup that failed was counted, no other"
    assert (status, locked["error"]["code"]) == (401, "too_many_failed_authentications"), locked
    assert "until 20" in locked["error"]["message"] and good not in json.dumps(locked)
    assert (spoofed.status, spoofed_body["error"]["code"]) == (401, "too_many_failed_authentications")
    assert still_counted == looked_up, "a locked-out address costs no lookup"
    assert api.call("GET", "/payments", secret=good)[0] == 200, "the key works from another address"
    assert Client(str(alpha["api"]["url"]), source=one_address()).call("GET", "/payments", secret=good)[0] == 200
    print(f"{tried} guesses from one address: {looked_up} looked up (bound {limit}), {dict(answered)}")


def test_malformed_credentials_cost_no_lookup_and_lock_nobody_out(
    cli: Cli, api: Client, alpha: DeploymentRecord
) -> None:
    """A credential refused before any lookup (another key shape or mode, a malformed header) is not counted."""
    address = one_address()
    client = Client(str(alpha["api"]["url"]), source=address)
    good = str(new_key(cli, f"merch_shape_{uuid.uuid4().hex[:8]}")["secret"])
    junk = [f"Bearer x{i}" for i in range(DEV.auth_failure_limit)]
    junk += [f"Bearer sk_live_{'a' * 42}{i % 10}" for i in range(DEV.auth_failure_limit)]  # the other mode
    junk += [f"Bearer  sk_test_{'a' * 42}{i % 10}" for i in range(DEV.auth_failure_limit)]  # two spaces
    for authorization in junk:
        assert client.call("GET", "/payments", authorization=authorization)[0] == 401
    assert failures_counted(cli, alpha, address) == 0
    assert client.call("GET", "/payments", secret=good)[0] == 200


def test_waf_refuses_an_address_past_the_bound_of_credentials_that_are_not_a_key_and_lets_its_keys_through(
    cli: Cli, api: Client, alpha: DeploymentRecord
) -> None:
    """WAF's second rule, as the deployment configured it: per source address, the requests whose credential is
    not a well-formed key (no header, another scheme, another shape) are counted; past the bound WAF answers
    them itself (its own 401 body, with Retry-After and WWW-Authenticate), so they no longer reach the authorizer.
    The same address's well-formed keys are neither counted nor blocked: a good one works, a wrong one is the
    authorizer's invalid_api_key; another address's junk is not refused."""
    limit, window = DEV.auth_failure_limit, DEV.auth_failure_window_s
    good = str(new_key(cli, f"merch_junk_{uuid.uuid4().hex[:8]}")["secret"])
    kinds = [None, "Bearer", "Basic Zm9vOmJhcg==", "Bearer x", f"Bearer  {good}", f"bearer {good[:-1]}"]
    for same_window in runs_in_one_window(window):
        address = one_address()
        client = Client(str(alpha["api"]["url"]), source=address)
        answers = []
        for i in range(limit + 6):
            status, headers, body = client.call("GET", "/payments", authorization=kinds[i % len(kinds)])
            answers.append((status, body["error"]["code"], headers))
        good_status = client.call("GET", "/payments", secret=good)[0]
        wrong = client.call("GET", "/payments", secret="sk_test_" + "b" * 43)
        neighbour = Client(str(alpha["api"]["url"]), source=one_address()).call("GET", "/payments", authorization="x")
        if same_window():
            break
    assert all(status == 401 for status, _, _ in answers), answers
    counted_by_the_gateway = [code for _, code, _ in answers[:limit]]
    assert set(counted_by_the_gateway) <= {"authentication_required", "invalid_api_key"}, counted_by_the_gateway
    refused_by_waf = answers[limit:]
    assert [code for _, code, _ in refused_by_waf] == ["too_many_failed_authentications"] * 6
    for _, _, headers in refused_by_waf:
        assert headers["retry-after"] == str(window) and headers["www-authenticate"] == "Bearer"
    assert good_status == 200, "a well-formed key from the same address is neither counted nor blocked"
    assert (wrong[0], wrong[2]["error"]["code"]) == (401, "invalid_api_key"), "a wrong key is the authorizer's"
    assert (neighbour[0], neighbour[2]["error"]["code"]) == (401, "authentication_required")
    assert failures_counted(cli, alpha, address) == 1, "only the wrong well-formed key cost a lookup"
