"""What the functions' database logins get from the server itself, so that they work behind RDS Proxy:
no startup options and no server-side prepared statements from the client, timeouts from the role."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest

from payment_processor.aws import client
from payment_processor.credentials import SecretsManagerCredentials
from payment_processor.store.database import Database
from tests.conftest import Services

pytestmark = pytest.mark.functional


def test_the_processors_connection_sends_no_startup_options_and_gets_its_timeouts_from_its_role(
    services: Services,
) -> None:
    sent: list[dict[str, Any]] = []

    def connect(**kwargs: Any) -> psycopg.Connection[Any]:
        sent.append(kwargs)
        return psycopg.connect(**kwargs)

    settings = services.settings()
    database = Database(
        settings, SecretsManagerCredentials(client("secretsmanager", settings), settings.db_secret_arn), connect=connect
    )
    try:
        conn = database.connection()
        # RDS Proxy answers any startup `options` with "FATAL: Feature not supported".
        assert "options" not in sent[0]
        assert conn.prepare_threshold is None, "a prepared statement would pin the client to one proxy connection"
        assert conn.execute("SHOW statement_timeout").fetchone() == ("10s",)
        assert conn.execute("SHOW idle_in_transaction_session_timeout").fetchone() == ("30s",)
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SET statement_timeout = '100ms'; SELECT pg_sleep(1)")
    finally:
        database.close()


def test_the_authorizers_login_has_a_shorter_statement_timeout(services: Services) -> None:
    from payment_processor.config import Settings

    settings = Settings.from_env(services.authorizer_env())
    database = Database(settings, SecretsManagerCredentials(client("secretsmanager", settings), settings.db_secret_arn))
    try:
        assert database.connection().execute("SHOW statement_timeout").fetchone() == ("5s",)
    finally:
        database.close()
