"""The admin function's entry point against the real servers: every action, and every refusal as an
answer (never an exception), with no secret in any answer but the one ``create_key`` owes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from payment_processor import admin as admin_module
from tests.conftest import Services
from tests.functional.test_security import login

pytestmark = pytest.mark.functional


@pytest.fixture
def admin_env(clean: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    for key, value in clean.world.admin_env.items():
        monkeypatch.setenv(key, value)
    return clean


def call(event: object) -> dict[str, Any]:
    # The handler's answer is JSON (Any, as it declares); the refusal cases send events that are not objects.
    return admin_module.handler(event, None)  # type: ignore[arg-type]  # deliberately any value: it must refuse


def test_create_list_revoke_through_the_entry_point(admin_env: Services) -> None:
    created = call({"action": "create_key", "merchant_id": "merch_x", "read_only": True})
    assert created["ok"] is True
    key = created["key"]
    assert isinstance(key, dict) and key["secret"].startswith("rk_test_") and key["read_only"] is True
    listed = call({"action": "list_keys"})
    assert listed["ok"] is True and [k["id"] for k in listed["keys"]] == [key["id"]]
    assert key["secret"] not in json.dumps(listed)
    revoked = call({"action": "revoke_key", "key_id": key["id"]})
    assert revoked["ok"] is True and revoked["key"]["revoked_at"]
    assert "secret" not in revoked["key"]


def test_a_key_with_an_expiry_rolled_on_postgresql(admin_env: Services) -> None:
    created = call({"action": "create_key", "merchant_id": "merch_x", "expires_in_s": 90 * 86400})
    assert created["ok"] is True
    old = created["key"]
    assert isinstance(old, dict) and old["expires_at"] and old["last_used_at"] is None
    rolled = call({"action": "roll_key", "key_id": old["id"], "overlap_s": 3600})
    assert rolled["ok"] is True
    new, before = rolled["key"], rolled["rolled"]
    assert isinstance(new, dict) and isinstance(before, dict)
    assert new["secret"].startswith("sk_test_") and "secret" not in before and old["secret"] not in json.dumps(rolled)
    assert before["replaced_by"] == new["id"] and before["expires_at"] < old["expires_at"]
    again = call({"action": "roll_key", "key_id": old["id"], "overlap_s": 0})
    assert again["ok"] is False and again["error"]["code"] == "conflict"
    assert "already rolled" in again["error"]["message"]
    listed = call({"action": "list_keys", "merchant_id": "merch_x"})
    assert [k["id"] for k in listed["keys"]] == [new["id"], old["id"]]
    with login(admin_env, admin_env.world.admin_secret_arn) as conn:
        stored = conn.execute("SELECT count(*) FROM api_keys").fetchone()
    assert stored == (2,), "the refused roll issued nothing"


@pytest.mark.parametrize(
    ("event", "code"),
    [
        ({"action": "drop_database"}, "unknown_action"),
        ({}, "unknown_action"),
        ([], "unknown_action"),
        ({"action": "create_key", "merchant_id": "bad merchant"}, "invalid_request"),
        ({"action": "create_key", "merchant_id": "m", "read_only": "yes"}, "invalid_request"),
        ({"action": "create_key"}, "invalid_request"),
        ({"action": "list_keys", "merchant_id": 5}, "invalid_request"),
        ({"action": "revoke_key"}, "invalid_request"),
        ({"action": "revoke_key", "key_id": "key_" + "q" * 26}, "not_found"),
        ({"action": "create_key", "merchant_id": "m", "expires_in_s": 60}, "invalid_request"),
        ({"action": "create_key", "merchant_id": "m", "expires_in_s": True}, "invalid_request"),
        ({"action": "create_key", "merchant_id": "m", "expires_in_s": 3600.5}, "invalid_request"),
        ({"action": "create_key", "merchant_id": "m", "expires_in_s": 10**30}, "invalid_request"),
        ({"action": "roll_key", "key_id": "key_" + "q" * 26, "overlap_s": 0}, "not_found"),
        ({"action": "roll_key", "key_id": "key_" + "q" * 26}, "invalid_request"),
        ({"action": "roll_key", "key_id": "key_" + "q" * 26, "overlap_s": -1}, "invalid_request"),
        ({"action": "roll_key", "key_id": "key_" + "q" * 26, "overlap_s": 8 * 86400}, "invalid_request"),
    ],
)
def test_refusals_are_answers_with_a_code(admin_env: Services, event: object, code: str) -> None:
    answer = call(event)
    assert answer["ok"] is False and answer["error"]["code"] == code


def test_a_missing_setting_is_misconfigured(admin_env: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DB_HOST")
    assert call({"action": "setup"})["error"]["code"] == "misconfigured"
    monkeypatch.setenv("DB_HOST", "127.0.0.1")
    monkeypatch.delenv("APP_DB_SECRET_ARN")
    answer = call({"action": "setup"})
    assert answer["error"] == {
        "code": "misconfigured",
        "message": "APP_DB_SECRET_ARN is not set: the admin function's deployment sets it",
    }
    monkeypatch.delenv("API_KEY_PEPPER_SECRET_ARN")
    assert call({"action": "list_keys"})["error"]["code"] == "misconfigured"


def test_an_unreachable_database_is_unavailable(admin_env: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    from payments_cli.local.ports import free_port

    monkeypatch.setenv("DB_PORT", str(free_port()))
    monkeypatch.setenv("DB_CONNECT_TIMEOUT", "1")
    assert call({"action": "list_keys"})["error"]["code"] == "unavailable"


def test_a_secret_value_that_is_not_a_login_is_replaced(admin_env: Services) -> None:
    """A secret holding something else (an operator's typo, another role's login) gets a fresh login."""
    secrets = admin_env._secrets()
    secrets.put_secret_value(SecretId=admin_env.world.app_secret_arn, SecretString="not json")
    answer = call({"action": "setup"})
    assert answer["ok"] is True
    value = json.loads(secrets.get_secret_value(SecretId=admin_env.world.app_secret_arn)["SecretString"])
    assert value["username"] == "payments_app" and len(value["password"]) >= 32
    with login(admin_env, admin_env.world.app_secret_arn) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("payments_app",)
