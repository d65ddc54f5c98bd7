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


def test_wiring_without_the_bucket_or_the_pepper_is_a_configuration_error() -> None:
    """Each entry point names what its deployment must set, instead of failing later on a None."""
    from payment_processor.config import ConfigError, Settings
    from payment_processor.handler import build_keys, build_service

    settings = Settings(db_secret_arn="arn", db_host="h", db_port=5432, db_name="n", aws_region="us-east-1")
    with pytest.raises(ConfigError, match="TRANSACTION_LOG_BUCKET"):
        build_service(settings)
    with pytest.raises(ConfigError, match="API_KEY_PEPPER_SECRET_ARN"):
        build_keys(settings)
