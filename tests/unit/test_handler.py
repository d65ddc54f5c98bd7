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


class _FakeGc:
    """Stands in for the gc module: records what _first_load asks of it (the test process's own
    collector is left alone)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.calls: list[str] = []

    def isenabled(self) -> bool:
        return self.enabled

    def disable(self) -> None:
        self.calls.append("disable")
        self.enabled = False

    def enable(self) -> None:
        self.calls.append("enable")
        self.enabled = True

    def freeze(self) -> None:
        self.calls.append(f"freeze(enabled={self.enabled})")


def test_the_first_request_runs_with_the_collector_paused_then_freezes_once(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeGc()
    monkeypatch.setattr(handler_module, "gc", fake)
    monkeypatch.setattr(handler_module, "_cold", True)
    seen: list[bool] = []
    with handler_module._first_load():
        seen.append(fake.enabled)
    assert seen == [False]
    assert fake.calls == ["disable", "freeze(enabled=False)", "enable"]
    assert fake.enabled
    with handler_module._first_load():  # later requests: the collector as it is
        seen.append(fake.enabled)
    assert seen == [False, True]
    assert fake.calls == ["disable", "freeze(enabled=False)", "enable"]


def test_the_first_load_restores_the_collector_when_the_request_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeGc()
    monkeypatch.setattr(handler_module, "gc", fake)
    monkeypatch.setattr(handler_module, "_cold", True)
    with pytest.raises(RuntimeError), handler_module._first_load():
        raise RuntimeError("boom")
    assert fake.enabled
    assert fake.calls == ["disable", "freeze(enabled=False)", "enable"]


def test_the_first_load_leaves_a_collector_switched_off_by_the_host_off(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _FakeGc(enabled=False)
    monkeypatch.setattr(handler_module, "gc", fake)
    monkeypatch.setattr(handler_module, "_cold", True)
    with handler_module._first_load():
        pass
    assert not fake.enabled
    assert "enable" not in fake.calls


def test_the_clients_of_one_wiring_share_one_sdk_session_and_the_short_timeouts() -> None:
    from payment_processor.aws import client, new_session
    from payment_processor.config import Settings

    settings = Settings(db_secret_arn="arn", db_host="h", db_port=5432, db_name="n", aws_region="eu-west-1")
    session = new_session()
    secrets = client("secretsmanager", settings, session=session)
    s3 = client("s3", settings, session=session)
    for made in (secrets, s3, client("s3", settings)):
        assert made.meta.region_name == "eu-west-1"
        assert made.meta.config.connect_timeout == 1
        assert made.meta.config.read_timeout == 2
        assert made.meta.config.retries == {"total_max_attempts": 1, "mode": "standard"}
    assert type(s3).__module__ == "botocore.client"
