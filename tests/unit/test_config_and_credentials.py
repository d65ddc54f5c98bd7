"""Settings from the environment and credentials from Secrets Manager (fake client)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from payment_processor.config import ConfigError, Settings
from payment_processor.credentials import (
    CredentialsUnavailable,
    DatabaseCredentials,
    SecretsManagerCredentials,
    StaticCredentials,
)

ENV = {
    "DB_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x",
    "DB_HOST": "db.internal",
    "DB_NAME": "payments",
    "TRANSACTION_LOG_BUCKET": "bucket",
}


def test_settings_defaults_and_overrides(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    settings = Settings.from_env(ENV)
    assert settings.db_port == 5432 and settings.db_sslmode == "prefer" and settings.aws_endpoint_url is None
    tuned = Settings.from_env(
        {
            **ENV,
            "DB_PORT": "6543",
            "DB_SSLMODE": "verify-full",
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
            "DB_SSLROOTCERT": str(ca),
        }
    )
    assert (tuned.db_port, tuned.db_sslmode, tuned.aws_region) == (6543, "verify-full", "eu-west-1")
    assert tuned.aws_endpoint_url == "http://127.0.0.1:5000" and tuned.db_sslrootcert == str(ca)


def test_payment_connectors_unset_is_every_kind_and_a_list_is_parsed() -> None:
    assert Settings.from_env(ENV).payment_connectors is None
    named = Settings.from_env({**ENV, "PAYMENT_CONNECTORS": " stripe , simulated,"}).payment_connectors
    assert named == frozenset({"stripe", "simulated"})
    assert Settings.from_env({**ENV, "PAYMENT_CONNECTORS": ""}).payment_connectors == frozenset()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({k: v for k, v in ENV.items() if k != "DB_HOST"}, "DB_HOST"),
        ({**ENV, "DB_PORT": "five"}, "DB_PORT"),
        ({**ENV, "DB_PORT": "-1"}, "DB_PORT"),
        ({**ENV, "DB_SSLMODE": "maybe"}, "DB_SSLMODE"),
        ({**ENV, "PAYMENT_CONNECTORS": "stripe,adyen"}, "PAYMENT_CONNECTORS names 'adyen'"),
    ],
)
def test_settings_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)


class FakeSecrets:
    """A Secrets Manager client fake that counts reads."""

    def __init__(self, secret: Any) -> None:
        self.secret = secret
        self.reads = 0

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.reads += 1
        if isinstance(self.secret, Exception):
            raise self.secret
        return {"SecretString": self.secret}


def test_secret_is_cached_for_its_ttl_and_refetched_after() -> None:
    now = [0.0]
    fake = FakeSecrets(json.dumps({"username": "u", "password": "p1"}))
    provider = SecretsManagerCredentials(fake, "arn", ttl_s=60, clock=lambda: now[0])
    assert provider.get() == DatabaseCredentials("u", "p1")
    now[0] = 59
    provider.get()
    assert fake.reads == 1
    now[0] = 61
    fake.secret = json.dumps({"username": "u", "password": "p2"})
    assert provider.get().password == "p2" and fake.reads == 2
    provider.invalidate()
    provider.get()
    assert fake.reads == 3


def test_password_is_not_in_repr() -> None:
    assert "hunter2" not in repr(DatabaseCredentials("u", "hunter2"))


@pytest.mark.parametrize(
    "secret", ["not json", json.dumps({"username": "u"}), json.dumps(["x"]), RuntimeError("boom hunter2")]
)
def test_unusable_secret_is_a_clear_error_without_the_value(secret: Any) -> None:
    with pytest.raises(CredentialsUnavailable, match="arn") as caught:
        SecretsManagerCredentials(FakeSecrets(secret), "arn").get()
    assert "hunter2" not in str(caught.value)


def test_static_credentials() -> None:
    static = StaticCredentials(DatabaseCredentials("a", "b"))
    static.invalidate()
    assert static.get().username == "a"
