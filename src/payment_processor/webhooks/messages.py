"""What travels between the dispatcher (inside the VPC, with the database) and the courier (outside it, with the
internet) over SQS: an attempt to make, and what it found (logic layer: no I/O).

Both are JSON. The attempt carries only what the courier needs: the URL, the exact body, and the endpoint's
secrets still sealed by KMS (the courier opens them; SQS never holds a secret in plain text). Each side checks
what it reads: a queue is an input like any other.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from payment_processor.webhooks.sender import ERRORS, Attempt


class BadMessage(ValueError):
    """A queue message that is not what this module writes."""


@dataclass(frozen=True)
class AttemptMessage:
    """One attempt for the courier to make."""

    delivery_id: int
    attempt: int
    event_id: str
    endpoint_id: str
    url: str
    body: str
    sealed_secrets: tuple[bytes, ...]

    def encode(self) -> str:
        return json.dumps(
            {
                "delivery_id": self.delivery_id,
                "attempt": self.attempt,
                "event_id": self.event_id,
                "endpoint_id": self.endpoint_id,
                "url": self.url,
                "body": self.body,
                "sealed_secrets": [base64.b64encode(s).decode("ascii") for s in self.sealed_secrets],
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, text: str) -> AttemptMessage:
        data = _object(text)
        secrets = data.get("sealed_secrets")
        if not isinstance(secrets, list) or not 1 <= len(secrets) <= 2 or not all(isinstance(s, str) for s in secrets):
            raise BadMessage("an attempt carries one or two sealed secrets")
        try:
            sealed = tuple(base64.b64decode(s, validate=True) for s in secrets)
        except ValueError:
            raise BadMessage("a sealed secret is base64") from None
        return cls(
            _int(data, "delivery_id"),
            _int(data, "attempt"),
            _str(data, "event_id"),
            _str(data, "endpoint_id"),
            _str(data, "url"),
            _str(data, "body"),
            sealed,
        )


@dataclass(frozen=True)
class ResultMessage:
    """What one attempt found, for the dispatcher to record."""

    delivery_id: int
    attempt_number: int
    attempt: Attempt

    def encode(self) -> str:
        found = self.attempt
        return json.dumps(
            {
                "delivery_id": self.delivery_id,
                "attempt": self.attempt_number,
                "status_code": found.status_code,
                "error": found.error,
                "latency_ms": found.latency_ms,
                "retry_after_s": found.retry_after_s,
                "excerpt": found.excerpt,
            },
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, text: str) -> ResultMessage:
        data = _object(text)
        status = data.get("status_code")
        error = data.get("error")
        retry_after = data.get("retry_after_s")
        excerpt = data.get("excerpt", "")
        if status is not None and (type(status) is not int or not 100 <= status <= 999):
            raise BadMessage("status_code is null or an HTTP status")
        if error is not None and error not in ERRORS:
            raise BadMessage("error is null or a known error kind")
        if (status is None) == (error is None) and not (status is not None and error == "redirect"):
            raise BadMessage("a result has a status code or an error")
        if retry_after is not None and (type(retry_after) not in (int, float) or not 0 <= retry_after <= 86400):
            raise BadMessage("retry_after_s is null or 0..86400 seconds")
        if not isinstance(excerpt, str) or len(excerpt) > 200 or not excerpt.isprintable():
            raise BadMessage("excerpt is at most 200 printable characters")
        latency = _int(data, "latency_ms")
        attempt = Attempt(status, error, latency, retry_after_s=retry_after, excerpt=excerpt)
        return cls(_int(data, "delivery_id"), _int(data, "attempt"), attempt)


def _object(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise BadMessage("not JSON") from None
    if not isinstance(data, dict):
        raise BadMessage("not a JSON object")
    return data


def _int(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if type(value) is not int or value < 0:
        raise BadMessage(f"{name} is a whole number")
    return value


def _str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise BadMessage(f"{name} is a non-empty string")
    return value
