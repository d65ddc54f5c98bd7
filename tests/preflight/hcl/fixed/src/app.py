"""The fixture project's function: records a payment request in the transaction log (the tests plan it,
never deploy or invoke it)."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

import boto3

_S3 = boto3.client("s3")


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """POST /payments: write the request to the transaction-log bucket and answer 202 with its id."""
    del context
    payment_id = str(uuid.uuid4())
    _S3.put_object(Bucket=os.environ["TRANSACTION_LOG_BUCKET"], Key=f"payments/{payment_id}.json", Body=event["body"])
    return {"statusCode": 202, "body": json.dumps({"id": payment_id})}
