"""Prepare the local PostgreSQL the way RDS prepares a new instance: its admin role and its database.

Everything after that (migrations, the application roles and their passwords, the API-key pepper)
is the admin function's setup, run from the deployed zip exactly as on AWS.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from payments_cli.local.postgres import LocalPostgres


def prepare_database(postgres: LocalPostgres, *, username: str, password: str, dbname: str) -> None:
    """Create (or update) the admin login and its database, as RDS does for ``username``/``db_name``.

    Like the RDS master user, the role can create roles and databases but is not a superuser.
    Idempotent: an existing role gets the given password (as after a rotation), an existing database
    is kept.
    """
    with psycopg.connect(postgres.superuser_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (username,)).fetchone()
        verb = sql.SQL("ALTER") if exists else sql.SQL("CREATE")
        # Identifiers and the password literal are quoted by psycopg, never pasted into SQL.
        conn.execute(
            sql.SQL("{} ROLE {} LOGIN CREATEROLE CREATEDB NOSUPERUSER PASSWORD {}").format(
                verb, sql.Identifier(username), sql.Literal(password)
            )
        )
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(dbname), sql.Identifier(username))
            )
