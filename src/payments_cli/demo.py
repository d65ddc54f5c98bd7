"""``payments demo``: take one payment through the real processor on this machine.

Starts a throwaway PostgreSQL server and moto server on 127.0.0.1, provisions them as a deployment
would (admin login and database, the secrets, the bucket, then the admin function's setup: migrations,
application roles, the API-key pepper), creates an API key, then sends API Gateway proxy events
through the authorizer and the processor: no key, POST, replay, a decline, GET. Everything it started
is stopped and removed at the end.
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

from payments_cli.local.emulator import EMULATOR_CREDENTIALS, MotoServer, emulator_client
from payments_cli.local.postgres import LocalPostgres

BUCKET = "payment-transaction-log-demo"
METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:demo/v1/{method}{path}"


def _event(method: str, path: str, secret: str | None, body: Any = None, key: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"} | ({"Idempotency-Key": key} if key else {})
    if secret:
        headers["Authorization"] = f"Bearer {secret}"
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "requestContext": {"requestId": str(uuid.uuid4())},
        "body": None if body is None else json.dumps(body),
        "isBase64Encoded": False,
    }


def run(say: Any = print) -> int:
    """Run the demo; return 0 if every step answered as expected."""
    with tempfile.TemporaryDirectory(prefix="payments-demo-") as folder:
        postgres = LocalPostgres(Path(folder) / "pg")
        moto = MotoServer(log_path=Path(folder) / "moto.log")
        try:
            say(f"starting PostgreSQL on 127.0.0.1:{postgres.port} and moto on {moto.endpoint} ...")
            postgres.init()
            postgres.start()
            moto.start()
            os.environ.update(EMULATOR_CREDENTIALS)
            os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
            return _steps(postgres, moto, say)
        finally:
            moto.stop()
            postgres.stop()


def _steps(postgres: LocalPostgres, moto: MotoServer, say: Any) -> int:
    from aws_lambda_powertools import Logger

    from payment_processor.admin import Admin
    from payment_processor.api import Api
    from payment_processor.authorizer import Unauthorized, authorize
    from payment_processor.config import Settings
    from payment_processor.handler import build_keys, build_service
    from payments_cli.local.standalone import provision

    world = provision(postgres, moto.endpoint, dbname="payments", bucket=BUCKET, name="payments-demo")
    admin = Admin(Settings.from_env(world.admin_env))
    try:
        key = admin.run({"action": "create_key", "merchant_id": "merch_demo"})["key"]
    finally:
        admin.close()
    say(f"API key {key['id']} for merch_demo: {key['redacted_secret']}")
    api = Api(build_service(Settings.from_env(world.processor_env)), Logger(service="payments-demo"))
    keys = build_keys(Settings.from_env(world.authorizer_env))

    def send(event: dict[str, Any]) -> dict[str, Any]:
        """What API Gateway does: the authorizer first, then the processor with its context."""
        try:
            answer = authorize(
                {**event, "methodArn": METHOD_ARN.format(method=event["httpMethod"], path=event["path"])}, keys
            )
        except Unauthorized:
            return {"statusCode": 401, "headers": {}, "body": '{"error":{"code":"authentication_required"}}'}
        if answer["policyDocument"]["Statement"][0]["Effect"] != "Allow":
            return {"statusCode": 401, "headers": {}, "body": '{"error":{"code":"invalid_api_key"}}'}
        event["requestContext"]["authorizer"] = {**answer["context"], "principalId": answer["principalId"]}
        return api.handle(event)

    body = {"amount": 2500, "currency": "EUR", "payment_method": "tok_visa"}
    idempotency_key = str(uuid.uuid4())
    secret = key["secret"]
    declined = body | {"payment_method": "tok_chargeDeclinedInsufficientFunds"}
    steps = [
        ("POST /payments (no API key)", _event("POST", "/payments", None, body, idempotency_key), 401),
        ("POST /payments", _event("POST", "/payments", secret, body, idempotency_key), 201),
        ("POST /payments (retry, same key)", _event("POST", "/payments", secret, body, idempotency_key), 201),
        ("POST /payments (declined card)", _event("POST", "/payments", secret, declined, str(uuid.uuid4())), 402),
    ]
    ok = True
    payment_id = None
    ids: list[str] = []
    for title, event, expected in steps:
        response = send(event)
        answer = json.loads(response["body"])
        payment_id = payment_id or answer.get("id")
        if answer.get("id") and answer["id"] not in ids:
            ids.append(answer["id"])
        ok &= response["statusCode"] == expected
        replayed = " (replayed)" if response["headers"].get("Idempotent-Replayed") else ""
        detail = answer.get("error", {}).get("code") if response["statusCode"] == 401 else answer.get("id")
        say(
            f"{title}: {response['statusCode']}{replayed} {detail} {answer.get('status') or ''}"
            f" {answer.get('amount') or ''} {answer.get('currency') or ''} {answer.get('decline_code') or ''}".rstrip()
        )
    got = send(_event("GET", f"/payments/{payment_id}", secret))
    ok &= got["statusCode"] == 200
    say(f"GET /payments/{payment_id}: {got['statusCode']}")
    objects = emulator_client(moto.endpoint, "s3").list_objects_v2(Bucket=BUCKET).get("Contents", [])
    # Each payment's two events (the succeeded one's and the declined one's), and the operator's key creation.
    expected_events = {
        f"{paid}/{event}"
        for paid, outcome in zip(ids, ("succeeded", "declined"), strict=False)
        for event in ("0001-payment.processing.json", f"0002-payment.{outcome}.json")
    }
    names = [str(item["Key"]) for item in objects]
    written = {"/".join(name.split("/")[-2:]) for name in names if name.startswith("transactions/")}
    ok &= len(ids) == 2 and written == expected_events
    ok &= sum(name.startswith("audit/") and name.endswith("-create_key.json") for name in names) == 1
    say(f"transaction log objects in s3://{BUCKET}: {len(objects)}")
    for item in objects:
        say(f"  {item['Key']}")
    say("demo: OK" if ok else "demo: FAILED")
    return 0 if ok else 1
