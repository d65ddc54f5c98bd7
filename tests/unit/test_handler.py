"""The Lambda entry points' own behaviour (wiring errors), without I/O."""

from __future__ import annotations

import pytest

from payment_processor import handler as handler_module
from tests.support import body_of, payment_body, post_payment


def test_misconfigured_function_answers_500_json_without_details(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DB_SECRET_ARN", "DB_HOST", "DB_NAME", "TRANSACTION_LOG_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(handler_module, "_service", None)
    response = handler_module.handler(post_payment(payment_body()), None)
    assert response["statusCode"] == 500
    assert body_of(response)["error"]["code"] == "internal_error"
    assert "DB_HOST" not in response["body"]
