"""What travels over the webhook queues: each side refuses what the other could not have written."""

from __future__ import annotations

import json

import pytest

from payment_processor.txlog import is_event_id
from payment_processor.webhooks.messages import AttemptMessage, BadMessage, ResultMessage
from payment_processor.webhooks.sender import Attempt

ATTEMPT = AttemptMessage(
    7, 2, "pay_" + "a" * 26 + ":0002", "we_" + "b" * 26, "https://example.com/h", "{}", (b"sealed-1", b"sealed-2")
)


def test_an_attempt_and_a_result_survive_the_queue() -> None:
    assert AttemptMessage.decode(ATTEMPT.encode()) == ATTEMPT
    result = ResultMessage(7, 2, Attempt(503, None, 12, retry_after_s=30.0, excerpt="busy"))
    assert ResultMessage.decode(result.encode()) == result
    redirect = ResultMessage(7, 2, Attempt(302, "redirect", 3))
    assert ResultMessage.decode(redirect.encode()) == redirect
    failed = ResultMessage(7, 2, Attempt(None, "timeout", 10_000))
    assert ResultMessage.decode(failed.encode()) == failed


def _attempt(**changes: object) -> str:
    data = json.loads(ATTEMPT.encode())
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        "null",
        "{",
        _attempt(sealed_secrets=[]),
        _attempt(sealed_secrets=["a", "b", "c"]),
        _attempt(sealed_secrets=["not base64!"]),
        _attempt(sealed_secrets=[1]),
        _attempt(delivery_id=-1),
        _attempt(delivery_id=True),
        _attempt(attempt="2"),
        _attempt(url=""),
        _attempt(body=None),
        _attempt(event_id=5),
    ],
)
def test_an_attempt_message_of_another_shape_is_refused(text: str) -> None:
    with pytest.raises(BadMessage):
        AttemptMessage.decode(text)


def _result(**changes: object) -> str:
    data = json.loads(ResultMessage(7, 2, Attempt(200, None, 5)).encode())
    data.update(changes)
    return json.dumps(data)


@pytest.mark.parametrize(
    "text",
    [
        _result(status_code=None),
        _result(status_code=99),
        _result(status_code=1000),
        _result(status_code="200"),
        _result(status_code=True),
        _result(error="boom"),
        _result(status_code=500, error="timeout"),
        _result(retry_after_s=-1),
        _result(retry_after_s=86401),
        _result(retry_after_s="5"),
        _result(excerpt="x" * 201),
        _result(excerpt=5),
        _result(excerpt="a\x00b"),
        _result(latency_ms=None),
        _result(delivery_id=1.5),
        "7",
    ],
)
def test_a_result_message_of_another_shape_is_refused(text: str) -> None:
    with pytest.raises(BadMessage):
        ResultMessage.decode(text)


@pytest.mark.parametrize(
    ("value", "shaped"),
    [
        ("pay_" + "a" * 26 + ":0001", True),
        ("we_" + "b" * 26 + ":0123456789ab", True),
        ("pay_" + "a" * 26 + ":001", False),
        ("pay_" + "a" * 26 + ":0123456789abc", False),
        ("pay_" + "a" * 26 + ":000G", False),
        ("pay_" + "a" * 26, False),
        ("re_" + "a" * 26 + ":0001", False),
        ("pay_" + "a" * 25 + ":0001", False),
        ("pay_" + "a" * 26 + ":00\x001", False),
        ("", False),
        ("pay_" + "a" * 26 + "::0001", False),
    ],
)
def test_an_event_id_has_one_of_two_shapes(value: str, shaped: bool) -> None:
    assert is_event_id(value) is shaped
