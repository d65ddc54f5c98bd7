"""Security against the real PostgreSQL server and moto's Secrets Manager: the database roles hold only
what they use, API keys are stored only as keyed hashes, the authorizer works end to end, and bad
input changes nothing."""

from __future__ import annotations

import json
import time
from typing import Any, cast

import psycopg
import pytest

from payment_processor import handler as handler_module
from payment_processor.admin import Admin
from tests.conftest import DB_NAME, Services
from tests.support import body_of, payment_body, post_payment

pytestmark = pytest.mark.functional


def login(services: Services, arn: str) -> psycopg.Connection[tuple[Any, ...]]:
    """Connect as the role whose login the secret holds."""
    value = json.loads(services._secrets().get_secret_value(SecretId=arn)["SecretString"])
    return psycopg.connect(
        host="127.0.0.1",
        port=services.postgres.port,
        dbname=DB_NAME,
        user=value["username"],
        password=value["password"],
        autocommit=True,
    )


def refused(conn: psycopg.Connection[tuple[Any, ...]], statement: str) -> bool:
    try:
        conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def test_the_app_role_reads_and_writes_payments_and_nothing_else(clean: Services) -> None:
    with login(clean, clean.world.app_secret_arn) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (f"{DB_NAME}_app",)
        row = conn.execute("SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = current_user")
        assert row.fetchone() == (False, False, False)
        assert conn.execute("SELECT count(*) FROM payments").fetchone() == (0,)
        assert refused(conn, "CREATE TABLE stolen (x int)")
        assert refused(conn, "SELECT rolpassword FROM pg_authid")
        assert refused(conn, "SELECT * FROM api_keys")
        assert refused(conn, "DROP TABLE payments")
        assert refused(conn, "UPDATE payments SET amount = 1")
        assert refused(conn, "DELETE FROM payments")
        assert refused(conn, "TRUNCATE transaction_log_outbox")
        assert refused(conn, "ALTER TABLE payments ADD COLUMN x int")
        assert refused(conn, "SELECT * FROM schema_migrations")
        # Of api_keys, one count through one function (the expiring-keys metric), nothing else.
        assert conn.execute("SELECT api_keys_expiring_within(604800)").fetchone() == (0,)
        assert refused(conn, "SELECT expires_at FROM api_keys")


def test_the_authorizer_role_only_reads_keys_and_writes_their_hour_of_use(clean: Services) -> None:
    clean.create_key()
    with login(clean, clean.world.auth_secret_arn) as conn:
        assert conn.execute("SELECT count(*) FROM api_keys").fetchone() == (1,)
        assert conn.execute("UPDATE api_keys SET last_used_at = date_trunc('hour', now())").rowcount == 1
        # An hour is a UTC hour whatever the session's zone (date_trunc would truncate in a +05:30 zone's).
        conn.execute("SET TIME ZONE 'Asia/Kolkata'")
        assert conn.execute("UPDATE api_keys SET last_used_at = '2026-01-01T10:00:00Z'").rowcount == 1
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute("UPDATE api_keys SET last_used_at = '2026-01-01T10:30:00Z'")
        assert refused(conn, "SELECT * FROM payments")
        assert refused(conn, "UPDATE api_keys SET revoked_at = NULL")
        assert refused(conn, "UPDATE api_keys SET expires_at = NULL")
        assert refused(conn, "UPDATE api_keys SET replaced_by = NULL")
        assert refused(conn, "INSERT INTO api_keys (id) VALUES ('key_x')")
        assert refused(conn, "CREATE TABLE stolen (x int)")
        assert refused(conn, "SELECT rolpassword FROM pg_authid")


def test_the_authorizer_role_counts_failed_authentications_through_its_one_function(clean: Services) -> None:
    """Migration 0019: the count per address and window, by the epoch whatever the session's zone; the authorizer
    cannot read or change the table otherwise, the processor cannot count at all."""
    with login(clean, clean.world.auth_secret_arn) as conn:
        conn.execute("SET TIME ZONE 'Asia/Kolkata'")  # +05:30: a date_trunc'd hour would not be UTC's
        note = "SELECT * FROM note_failed_authentication('203.0.113.7', 3600)"
        # fetchone() is typed Optional: the function answers its one row every time.
        counts = [cast("tuple[Any, ...]", conn.execute(note).fetchone()) for _ in range(3)]
        assert [count for count, _ in counts] == [1, 2, 3]
        ends = counts[0][1]
        assert ends.timestamp() % 3600 == 0 and 0 < ends.timestamp() - time.time() <= 3600
        assert conn.execute("SELECT failures FROM note_failed_authentication('2001:db8::1', 60)").fetchone() == (1,)
        with pytest.raises(psycopg.errors.InvalidParameterValue):
            conn.execute("SELECT * FROM note_failed_authentication('203.0.113.7', 0)")
        with pytest.raises(psycopg.errors.InvalidTextRepresentation):
            conn.execute("SELECT * FROM note_failed_authentication('not an address', 60)")
        assert refused(conn, "SELECT * FROM failed_authentications")
        assert refused(conn, "DELETE FROM failed_authentications")
        assert refused(conn, "INSERT INTO failed_authentications VALUES ('10.0.0.1', now(), 1)")
    with login(clean, clean.world.app_secret_arn) as conn:
        assert refused(conn, "SELECT * FROM note_failed_authentication('203.0.113.7', 60)")
        assert refused(conn, "SELECT * FROM failed_authentications")
    with clean.admin() as conn:
        conn.execute("INSERT INTO failed_authentications VALUES ('10.9.9.9', now() - interval '2 days', 99)")
    with login(clean, clean.world.auth_secret_arn) as conn:
        conn.execute("SELECT * FROM note_failed_authentication('203.0.113.8', 60)")
    with clean.admin() as conn:
        rows = conn.execute("SELECT host(source_ip), failures FROM failed_authentications ORDER BY 1").fetchall()
    assert ("10.9.9.9", 99) not in rows, "a window older than a day goes as new failures come"
    assert sorted(rows) == [("2001:db8::1", 1), ("203.0.113.7", 3), ("203.0.113.8", 1)]


def test_each_role_has_its_own_generated_password_and_setup_keeps_them(clean: Services) -> None:
    def logins() -> list[dict[str, str]]:
        secrets = clean._secrets()
        arns = (clean.world.admin_secret_arn, clean.world.app_secret_arn, clean.world.auth_secret_arn)
        return [json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"]) for arn in arns]

    before = logins()
    assert len({login["password"] for login in before}) == 3
    assert all(len(login["password"]) >= 32 for login in before[1:])
    admin = Admin(clean.admin_settings(), secrets_client=clean._secrets())
    try:
        again = admin.setup()
    finally:
        admin.close()
    assert again == {"migrations_applied": [], "roles": [f"{DB_NAME}_app", f"{DB_NAME}_auth"], "pepper": "kept"}
    assert logins() == before
    assert "password" not in json.dumps(again)


def test_a_key_secret_is_nowhere_in_the_database(clean: Services) -> None:
    issued = clean.create_key()
    secret = issued["secret"]
    assert secret.startswith("sk_test_") and issued["read_only"] is False
    with clean.admin() as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        dump = "".join(
            str(row) for table in tables for row in conn.execute(f"SELECT row_to_json(t)::text FROM {table} t")
        )
        stored = conn.execute("SELECT secret_hash FROM api_keys WHERE id = %s", (issued["id"],)).fetchone()
    assert stored is not None and len(bytes(cast("bytes | memoryview", stored[0]))) == 32  # a bytea
    assert secret not in dump and secret[8:24] not in dump
    server_log = (clean.postgres.data_dir / "server.log").read_text(errors="replace")
    assert secret not in server_log


def test_the_authorizer_handler_allows_a_key_and_denies_it_once_revoked(
    clean: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in clean.authorizer_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(handler_module, "_keys", None)
    issued = clean.create_key("merch_sec")
    event = {
        "type": "REQUEST",
        "methodArn": "arn:aws:execute-api:us-east-1:123456789012:api/v1/GET/payments/x",
        "headers": {"Authorization": f"Bearer {issued['secret']}"},
    }
    allowed = handler_module.authorizer(event, None)
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert allowed["context"]["merchant_id"] == "merch_sec"
    admin = Admin(clean.admin_settings(), secrets_client=clean._secrets())
    try:
        admin.run({"action": "revoke_key", "key_id": issued["id"]})
        listed = admin.run({"action": "list_keys", "merchant_id": "merch_sec"})["keys"]
    finally:
        admin.close()
    assert [k["id"] for k in listed] == [issued["id"]] and listed[0]["revoked_at"]
    assert all("secret" not in k for k in listed)
    # The Allow kept the hour of use, through the authorizer's own role (which may write that column alone).
    assert listed[0]["last_used_at"] and listed[0]["last_used_at"].endswith(":00:00.000000Z")
    denied = handler_module.authorizer(event, None)
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        handler_module.authorizer({**event, "headers": {}}, None)


@pytest.mark.parametrize(
    "body",
    [
        payment_body(description="order\u0000 42"),
        payment_body(metadata={"note": "a\u0000b"}),
        payment_body(customer_id="cus_\u0000"),
    ],
)
def test_a_value_postgres_cannot_store_is_422_and_changes_nothing(
    clean: Services, monkeypatch: pytest.MonkeyPatch, body: dict[str, Any]
) -> None:
    for key, value in clean.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(handler_module, "_service", None)
    calls: list[object] = []

    def authorize(*args: object, **kwargs: object) -> None:
        calls.append(kwargs)

    monkeypatch.setattr("payment_processor.connectors.simulated.SimulatedAcquirer.authorize", authorize)
    response = handler_module.handler(post_payment(body), None)
    assert response["statusCode"] == 422 and body_of(response)["error"]["code"] == "invalid_character"
    assert calls == [], "the acquirer was never called"
    with clean.admin() as conn:
        counts = [conn.execute(f"SELECT count(*) FROM {t}").fetchone() for t in ("payments", "idempotency_keys")]
    assert counts == [(0,), (0,)]
