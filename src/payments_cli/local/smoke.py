"""``payments smoke``: a real payment through a served deployment, checked end to end."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from payments_cli.deploy.admin import AdminCallFailed
from payments_cli.deploy.state import StateFolder
from payments_cli.errors import ServeError
from payments_cli.local.lambda_runtime.functions import invoke_admin
from payments_cli.local.records import DeploymentRecord, api_of, read_record
from payments_cli.local.services import running_emulator


@dataclass
class Check:
    """One smoke check and its outcome."""

    name: str
    passed: bool
    detail: str


#: The transaction-log objects one successful payment leaves: one per state change.
_STATE_CHANGES = ("0001-payment.processing.json", "0002-payment.succeeded.json")


def _request(
    url: str, *, method: str = "GET", body: Any = None, key: str | None = None, secret: str | None = None
) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - loopback URL we built
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Idempotency-Key", key)
    if secret:
        request.add_header("Authorization", f"Bearer {secret}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def run_smoke(state: StateFolder, environment: str, suffix: str, *, report: Callable[[Check], None]) -> list[Check]:
    """Its own API keys; no key → 401; POST → 201, replay → same payment, GET → 200; another merchant's
    GET → 404; both transaction-log objects (processing, succeeded) in S3; a decline → 402; an authorization
    captured in part, refunded in part, and found in the list and the events feed. The keys are revoked at
    the end."""
    checks: list[Check] = []

    def check(name: str, passed: bool, detail: str) -> bool:
        checks.append(Check(name, passed, detail))
        report(checks[-1])
        return passed

    record = read_record(state.deployment_dir(environment, suffix))
    url = api_of(record).get("url")
    if record is None or not url:
        check("deployment served", False, f"{environment}/{suffix} is not served: run `payments up --suffix {suffix}`")
        return checks
    base = url
    merchant = f"merch_smoke_{suffix.replace('-', '_')}"
    try:
        mine = invoke_admin(state, environment, suffix, {"action": "create_key", "merchant_id": merchant})["key"]
        other = invoke_admin(state, environment, suffix, {"action": "create_key", "merchant_id": f"{merchant}_other"})[
            "key"
        ]
    except (AdminCallFailed, ServeError) as error:
        check("API keys created", False, str(error))
        return checks
    check("API keys created", True, f"{mine['id']} ({merchant}), {other['id']} (another merchant)")
    try:
        _smoke_requests(state, record, base, mine["secret"], other["secret"], check)
        _smoke_webhook(state, environment, suffix, base, mine["secret"], check)
    finally:
        for key in (mine, other):
            invoke_admin(state, environment, suffix, {"action": "revoke_key", "key_id": key["id"]})
    return checks


def _smoke_webhook(
    state: StateFolder, environment: str, suffix: str, base: str, secret: str, check: Callable[[str, bool, str], bool]
) -> None:
    """An endpoint on a receiver here gets ``payment.succeeded`` for a new payment (dispatched by a run of the
    deployed reconcile job, sent by the deployed courier), and its signature verifies with the Standard Webhooks
    reference library. The endpoint is deleted at the end."""
    from payments_cli.local.lambda_runtime.functions import deployment_context, function_runtime
    from payments_cli.local.webhook_receiver import VerifyingReceiver

    with VerifyingReceiver() as receiver:
        wanted = {"url": receiver.url, "enabled_events": ["payment.succeeded"]}
        status, _, made = _request(
            f"{base}/webhook_endpoints", method="POST", key=f"smoke-{uuid.uuid4()}", secret=secret, body=wanted
        )
        if not check("POST /webhook_endpoints → 201", status == 201, f"{status}"):
            return
        receiver.secret = made["secret"]
        try:
            body = {"amount": 1999, "currency": "EUR", "payment_method": "tok_visa"}
            status, _, paid = _request(
                f"{base}/payments", method="POST", body=body, key=f"smoke-{uuid.uuid4()}", secret=secret
            )
            payment_id = paid.get("id") if isinstance(paid, dict) else None
            record, emulator, port = deployment_context(state, environment, suffix)
            name = next(str(n) for n in record["outputs"]["function_names"] if "-reconcile-" in str(n))
            reconcile = function_runtime(
                state, environment, suffix, name, record=record, emulator=emulator, postgres_port=port, concurrency=1
            )
            try:
                deadline = time.monotonic() + 30
                while not receiver.got(payment_id) and time.monotonic() < deadline:
                    reconcile.invoke({})  # what the schedule does every minute: dispatch the due deliveries
                    receiver.wait(payment_id, timeout_s=2)
            finally:
                reconcile.close()
            delivered = receiver.got(payment_id)
            check(
                "webhook payment.succeeded delivered, signature verifies (standardwebhooks)",
                delivered is not None and delivered.verified,
                "nothing received in 30 s" if delivered is None else delivered.detail,
            )
        finally:
            _request(f"{base}/webhook_endpoints/{made['id']}", method="DELETE", secret=secret)


def _smoke_requests(
    state: StateFolder,
    record: DeploymentRecord,
    base: str,
    secret: str,
    other_secret: str,
    check: Callable[[str, bool, str], bool],
) -> None:
    body = {"amount": 1999, "currency": "EUR", "payment_method": "tok_visa"}
    key = f"smoke-{uuid.uuid4()}"
    try:
        status, headers, refused = _request(f"{base}/payments", method="POST", body=body, key=key)
    except OSError as error:
        check("API answers", False, f"{base}: {error}; is the server running? (`payments status`)")
        return
    code = refused.get("error", {}).get("code") if isinstance(refused, dict) else None
    check("no API key → 401", status == 401 and code == "authentication_required", f"{status} {code}")
    status, _, created = _request(f"{base}/payments", method="POST", body=body, key=key, secret=secret)
    if not check(
        "POST /payments → 201", status == 201, f"{status} {created.get('id') if isinstance(created, dict) else created}"
    ):
        return
    payment_id = created["id"]
    status, headers, replay = _request(f"{base}/payments", method="POST", body=body, key=key, secret=secret)
    replayed = {k.lower(): v for k, v in headers.items()}.get("idempotent-replayed") == "true"
    check(
        "replay → same payment",
        status == 201 and replayed and replay.get("id") == payment_id,
        f"{status}, Idempotent-Replayed {replayed}, id {replay.get('id')}",
    )
    status, _, read = _request(f"{base}/payments/{payment_id}", secret=secret)
    check("GET /payments/{id} → 200", status == 200 and read.get("id") == payment_id, f"{status}")
    status, _, hidden = _request(f"{base}/payments/{payment_id}", secret=other_secret)
    code = hidden.get("error", {}).get("code") if isinstance(hidden, dict) else None
    check("another merchant's GET → 404", status == 404 and code == "not_found", f"{status} {code}")
    emulator = running_emulator(state)
    bucket = record["outputs"]["transaction_log_bucket"]
    found: list[str] = []
    if emulator is not None:
        s3: Any = emulator.client("s3")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(found) < len(_STATE_CHANGES):
            listed = s3.list_objects_v2(Bucket=bucket, Prefix="transactions/")
            found = sorted(o["Key"] for o in listed.get("Contents", []) if f"/{payment_id}/" in o["Key"])
            if len(found) < len(_STATE_CHANGES):
                time.sleep(0.2)
    names = [key.rsplit("/", 1)[1] for key in found]
    check(
        "transaction log in S3: processing → succeeded",
        names == list(_STATE_CHANGES),
        ", ".join(names) if names else f"nothing for {payment_id} in s3://{bucket}",
    )
    declined_body = {**body, "payment_method": "tok_chargeDeclined"}
    status, _, declined = _request(
        f"{base}/payments", method="POST", body=declined_body, key=f"smoke-{uuid.uuid4()}", secret=secret
    )
    code = declined.get("error", {}).get("decline_code") if isinstance(declined, dict) else None
    check("declined payment → 402", status == 402 and code == "generic_decline", f"{status} {code}")
    _smoke_follow_ups(base, secret, body, check)


def _smoke_follow_ups(base: str, secret: str, body: dict[str, Any], check: Callable[[str, bool, str], bool]) -> None:
    """Authorize, capture part, refund part of it; then find it in the list and the feed."""

    def post(path: str, payload: Any) -> tuple[int, Any]:
        status, _, answer = _request(
            f"{base}{path}", method="POST", body=payload, key=f"smoke-{uuid.uuid4()}", secret=secret
        )
        return status, answer if isinstance(answer, dict) else {}

    status, held = post("/payments", {**body, "capture_method": "manual"})
    authorized = status == 201 and held.get("status") == "requires_capture"
    if not check("authorize (capture_method manual) → 201 requires_capture", authorized, f"{status}"):
        return
    payment_id = held["id"]
    status, captured = post(f"/payments/{payment_id}/capture", {"amount": 1500})
    check(
        "capture 1500 of 1999 → 200 succeeded",
        status == 200 and captured.get("amount_captured") == 1500,
        f"{status} {captured.get('status')}",
    )
    status, refund = post(f"/payments/{payment_id}/refunds", {"amount": 500, "reason": "requested_by_customer"})
    check("refund 500 → 201", status == 201 and refund.get("status") == "succeeded", f"{status} {refund.get('id')}")
    status, over = post(f"/payments/{payment_id}/refunds", {"amount": 1001})
    code = over.get("error", {}).get("code")
    check(
        "refund past the captured amount → 422", status == 422 and code == "refund_exceeds_captured", f"{status} {code}"
    )
    status, _, listed = _request(f"{base}/payments?limit=5", secret=secret)
    ids = [p.get("id") for p in listed.get("data", [])] if isinstance(listed, dict) else []
    check(
        "GET /payments lists it, newest first", status == 200 and ids[:1] == [payment_id], f"{status} {len(ids)} listed"
    )
    # The feed shows an event once every transaction that began before it has ended (a delivery run can
    # hold it back for a moment): poll briefly, as a feed's reader does.
    deadline = time.monotonic() + 10
    while True:
        status, _, feed = _request(f"{base}/events?limit=3", secret=secret)
        types = [e.get("type") for e in feed.get("data", [])] if isinstance(feed, dict) else []
        if "refund.succeeded" in types or status != 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check("GET /events shows the refund", status == 200 and "refund.succeeded" in types, f"{status} {', '.join(types)}")
