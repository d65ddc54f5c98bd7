"""Prepare the local stand-ins the way a deployment describes them: database role and schema."""

from __future__ import annotations

import psycopg
from psycopg import sql

from payment_processor.migrate import migrate
from payments_cli.local.postgres import LocalPostgres


def prepare_database(postgres: LocalPostgres, *, username: str, password: str, dbname: str) -> list[str]:
    """Create (or update) the login role and its database, then apply the processor's migrations.

    Idempotent: an existing role gets the given password (as after a rotation), an existing database
    is kept. Returns the migration versions applied now.
    """
    with psycopg.connect(postgres.superuser_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (username,)).fetchone()
        verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
        # Identifiers and the password literal are quoted by psycopg, never pasted into SQL.
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN PASSWORD {}").format(verb, sql.Identifier(username), sql.Literal(password))
        )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(username))
            )
    with psycopg.connect(
        host="127.0.0.1", port=postgres.port, user=username, password=password, dbname=dbname, autocommit=True
    ) as conn:
        return migrate(conn)
