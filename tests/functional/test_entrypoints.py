"""Migrations, the delivery entry points and credential rotation against the real servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import psycopg
import pytest

from payment_processor import handler as handler_module
from payment_processor.credentials import DatabaseCredentials
from payment_processor.migrate import Migration, MigrationError, available, migrate
from payment_processor.migrate import main as migrate_main
from payment_processor.reconcile import main as reconcile_main
from payment_processor.store.database import Database
from payment_processor.store.interfaces import StoreUnavailable
from tests.conftest import DB_USER, MERCHANT, Services
from tests.functional.test_postgres_flow import build_service, objects
from tests.support import payment_body, post_payment

pytestmark = pytest.mark.functional


def use_env(monkeypatch: pytest.MonkeyPatch, services: Services) -> None:
    for key, value in services.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(handler_module, "_service", None)


def test_migrate_command_is_idempotent(
    clean: Services, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Migrations run with the admin login (the admin function's); the app role may not create tables.
    for key, value in clean.world.admin_env.items():
        monkeypatch.setenv(key, value)
    assert migrate_main() == 0
    assert "up to date" in capsys.readouterr().out
    use_env(monkeypatch, clean)
    assert migrate_main() == 1, "the processor's own login cannot migrate"
    with clean.admin() as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == [m.version for m in available()]


def test_migrate_command_fails_clearly_without_config(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a real process: a missing variable is named, exit 1."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DB_")}
    result = subprocess.run(
        [sys.executable, "-m", "payment_processor.migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1 and "DB_SECRET_ARN" in result.stderr


def test_migrate_command_reports_unreachable_database(
    clean: Services, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from payments_cli.local.ports import free_port

    use_env(monkeypatch, clean)
    monkeypatch.setenv("DB_PORT", str(free_port()))
    assert migrate_main() == 1
    assert "database unavailable" in capsys.readouterr().err


def test_new_migration_applies_once_and_edited_one_is_refused(clean: Services) -> None:
    with psycopg.connect(
        clean.postgres.superuser_dsn.replace("dbname=postgres", "dbname=postgres"), autocommit=True
    ) as conn:
        conn.execute("DROP DATABASE IF EXISTS migrate_scratch")
        conn.execute("CREATE DATABASE migrate_scratch")
    dsn = f"host=127.0.0.1 port={clean.postgres.port} user=postgres dbname=migrate_scratch"
    extra = Migration("9999", "scratch", "CREATE TABLE scratch (id int);")
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert migrate(conn, [*available(), extra]) == [*(m.version for m in available()), "9999"]
        assert migrate(conn, [*available(), extra]) == []
        edited = Migration("9999", "scratch", "CREATE TABLE scratch (id bigint);")
        with pytest.raises(MigrationError, match="changed after it was applied"):
            migrate(conn, [*available(), edited])


def test_reconcile_entry_point_drains_the_outbox(
    clean: Services, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from payments_cli.local.ports import free_port

    down, db = build_service(clean.settings(), s3_endpoint=f"http://127.0.0.1:{free_port()}")
    from payment_processor.validation import parse_payment_request

    down.create_payment(MERCHANT, parse_payment_request(payment_body()), "k1")
    down.create_payment(MERCHANT, parse_payment_request(payment_body(amount=5)), "k2")
    db.close()
    assert objects(clean) == []
    use_env(monkeypatch, clean)
    assert reconcile_main([]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])
    # Each request stopped at its first failed put: the untried events go now, the failed ones wait.
    assert (report["delivered"], report["pending"]) == (2, 2), "failed events not retried before their backoff"
    with clean.admin() as conn:  # the backoff has passed
        conn.execute("UPDATE transaction_log_outbox SET next_attempt_at = now()")
    assert reconcile_main([]) == 0
    report = json.loads(capsys.readouterr().out.splitlines()[-1])  # earlier lines: the function's JSON logs
    assert report["delivered"] == 2 and report["error"] is None
    assert len(objects(clean)) == 4
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setattr(handler_module, "_service", None)
    capsys.readouterr()
    assert reconcile_main([]) == 1  # AWS unreachable: the secret cannot be read, and the report says so
    assert "cannot read database secret" in json.loads(capsys.readouterr().out.splitlines()[-1])["error"]


def test_scheduled_reconcile_purges_old_keys(clean: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    use_env(monkeypatch, clean)
    handler_module.handler(post_payment(payment_body(), key="old"), None)
    handler_module.handler(post_payment(payment_body(), key="new"), None)
    with clean.admin() as conn:
        conn.execute(
            "UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE idempotency_key = 'old'"
        )
    result = handler_module.reconcile({}, None)
    assert result["idempotency_keys_purged"] == 1
    with clean.admin() as conn:
        assert conn.execute("SELECT idempotency_key FROM idempotency_keys").fetchall() == [("new",)]
    # Each duty is a named step with its own counts.
    assert list(result["steps"]) == [
        "settle_payments",
        "finish_payment_actions",
        "finish_refunds",
        "expire_authorizations",
        "settle_authentications",
        "deliver_outbox",
        "dispatch_webhooks",
        "purge_idempotency_keys",
        "health",
    ]
    assert result["steps"]["purge_idempotency_keys"] == {"purged": 1}
    assert result["steps"]["settle_payments"] == {"answered": 0, "gave_up": 0, "still_waiting": 0}


def test_the_old_names_of_the_job_still_run_it_for_one_release() -> None:
    from payment_processor import deliver as old_module
    from payment_processor import reconcile as new_module

    assert handler_module.deliver is handler_module.reconcile
    assert old_module.main is new_module.main


class RotatingCredentials:
    """First answers a stale password, then the current one after invalidate()."""

    def __init__(self, password: str) -> None:
        self.current = DatabaseCredentials(DB_USER, "stale-password")
        self.password = password
        self.invalidated = 0

    def get(self) -> DatabaseCredentials:
        return self.current

    def invalidate(self) -> None:
        self.invalidated += 1
        self.current = DatabaseCredentials(DB_USER, self.password)


def test_rotated_password_is_refetched_once(clean: Services) -> None:
    # Password auth needs md5/scram on this cluster: trust would accept any password.
    credentials = RotatingCredentials(clean.db_password)
    database = Database(clean.settings(), credentials)
    try:
        conn = database.connection()
    except StoreUnavailable:
        pytest.fail("a rotated password must be re-read, not fail the request")
    assert conn.execute("SELECT current_user").fetchone() == (DB_USER,)
    assert credentials.invalidated == 1
    database.close()


def test_wrong_password_is_store_unavailable_without_the_password(clean: Services) -> None:
    class Wrong(RotatingCredentials):
        def invalidate(self) -> None:
            self.invalidated += 1

    database = Database(clean.settings(), Wrong(clean.db_password))
    with pytest.raises(StoreUnavailable) as caught:
        database.connection()
    assert "stale-password" not in str(caught.value)


def test_connections_carry_tcp_keepalive_and_a_user_timeout(clean: Services) -> None:
    """libpq takes the settings (a half-open socket then fails in seconds instead of hanging a request)."""
    from payment_processor.store.database import KEEPALIVE

    _, database = build_service(clean.settings())
    try:
        parameters = database.connection().info.get_parameters()
    finally:
        database.close()
    for name, value in KEEPALIVE.items():
        assert parameters.get(name) == str(value), name
