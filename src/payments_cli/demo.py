"""``payments demo``: take one payment through the real processor on this machine.

Starts a throwaway PostgreSQL server and moto server on 127.0.0.1, stores the database login in the
emulator's Secrets Manager exactly as RDS would, creates the transaction-log bucket, applies the
migrations, then invokes the Lambda handler with API Gateway proxy events: POST, replay, GET, a
decline. Everything it started is stopped and removed at the end.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import uuid
from pathlib import Path
from typing import Any

import boto3

from payments_cli.local.emulator import EMULATOR_CREDENTIALS, MotoServer
from payments_cli.local.postgres import LocalPostgres
from payments_cli.local.provision import prepare_database

REGION = "us-east-1"
BUCKET = "payment-transaction-log-demo"


def _event(method: str, path: str, body: Any = None, key: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"} | ({"Idempotency-Key": key} if key else {})
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
            password = secrets.token_urlsafe(24)
            prepare_database(postgres, username="payments_app", password=password, dbname="payments")
            boto3.client("s3", region_name=REGION, endpoint_url=moto.endpoint).create_bucket(Bucket=BUCKET)
            secret = boto3.client("secretsmanager", region_name=REGION, endpoint_url=moto.endpoint).create_secret(
                Name="payments-db-demo", SecretString=json.dumps({"username": "payments_app", "password": password})
            )
            os.environ.update(
                {
                    "DB_SECRET_ARN": secret["ARN"],
                    "DB_HOST": "127.0.0.1",
                    "DB_PORT": str(postgres.port),
                    "DB_NAME": "payments",
                    "DB_SSLMODE": "disable",
                    "TRANSACTION_LOG_BUCKET": BUCKET,
                    "AWS_REGION": REGION,
                    "AWS_ENDPOINT_URL": moto.endpoint,
                    "POWERTOOLS_LOG_LEVEL": "WARNING",
                }
            )
            from payment_processor.handler import handler

            body = {"amount": 2500, "currency": "EUR", "payment_method": "tok_visa", "merchant_id": "merch_demo"}
            key = str(uuid.uuid4())
            steps = [
                ("POST /payments", _event("POST", "/payments", body, key), 201),
                ("POST /payments (retry, same key)", _event("POST", "/payments", body, key), 201),
                (
                    "POST /payments (declined card)",
                    _event(
                        "POST",
                        "/payments",
                        body | {"payment_method": "tok_chargeDeclinedInsufficientFunds"},
                        str(uuid.uuid4()),
                    ),
                    402,
                ),
            ]
            ok = True
            payment_id = None
            for title, event, expected in steps:
                response = handler(event, None)
                answer = json.loads(response["body"])
                payment_id = payment_id or answer.get("id")
                ok &= response["statusCode"] == expected
                replayed = " (replayed)" if response["headers"].get("Idempotent-Replayed") else ""
                say(
                    f"{title}: {response['statusCode']}{replayed} {answer.get('id')} {answer.get('status')}"
                    f" {answer.get('amount')} {answer.get('currency')} {answer.get('decline_code') or ''}".rstrip()
                )
            got = handler(_event("GET", f"/payments/{payment_id}"), None)
            ok &= got["statusCode"] == 200
            say(f"GET /payments/{payment_id}: {got['statusCode']}")
            keys = [
                o["Key"]
                for o in boto3.client("s3", region_name=REGION, endpoint_url=moto.endpoint)
                .list_objects_v2(Bucket=BUCKET)
                .get("Contents", [])
            ]
            ok &= len(keys) == 2
            say(f"transaction log objects in s3://{BUCKET}: {len(keys)}")
            for k in keys:
                say(f"  {k}")
            say("demo: OK" if ok else "demo: FAILED")
            return 0 if ok else 1
        finally:
            moto.stop()
            postgres.stop()
