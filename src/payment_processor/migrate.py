"""Schema migrations: versioned SQL files applied in order, once each, idempotently.

``python -m payment_processor.migrate`` reads the same environment as the function (DB_SECRET_ARN,
DB_HOST, DB_PORT, DB_NAME, AWS_REGION, AWS_ENDPOINT_URL), DB_SECRET_ARN naming the admin login: the
functions' own logins may not create tables. The deployed path is the admin function's setup.
Concurrent runs are serialized by an advisory lock; a migration file changed after it was applied
is refused, not silently skipped.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg

#: pg_advisory_lock key held while migrating ("payments" in ASCII).
_LOCK_KEY = 0x7061796D656E7473


class MigrationError(Exception):
    """A migration could not be applied or an applied one was changed."""


@dataclass(frozen=True)
class Migration:
    """One SQL file: its version (the file name's number), name and text."""

    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        """SHA-256 of the SQL text, recorded when applied."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available() -> list[Migration]:
    """The migrations shipped in ``payment_processor/migrations``, in version order."""
    folder = resources.files("payment_processor") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            version, _, rest = entry.name.partition("_")
            found.append(Migration(version, rest.removesuffix(".sql"), entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def migrate(conn: psycopg.Connection[Any], migrations: list[Migration] | None = None) -> list[str]:
    """Apply every migration not yet applied; return the versions applied now (autocommit ``conn``)."""
    migrations = available() if migrations is None else migrations
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version text PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = dict(conn.execute("SELECT version, checksum FROM schema_migrations").fetchall())
        done = []
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version}_{migration.name} was changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            with conn.transaction():
                conn.execute(migration.sql.encode())
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
            done.append(migration.version)
        return done
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))


def main() -> int:
    """Apply migrations to the database the environment names; exit 0 on success, 1 on failure."""
    # Imported here so that importing this module (for tests, or `available()`) needs no AWS config.
    from payment_processor.aws import client
    from payment_processor.config import ConfigError, Settings
    from payment_processor.credentials import SecretsManagerCredentials
    from payment_processor.store.database import Database
    from payment_processor.store.interfaces import StoreUnavailable

    try:
        settings = Settings.from_env()
        database = Database(
            settings,
            SecretsManagerCredentials(client("secretsmanager", settings), settings.db_secret_arn),
        )
        done = migrate(database.connection())
        database.close()
    except (ConfigError, StoreUnavailable, MigrationError) as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        # For example "permission denied for schema public": a login that may not migrate (only the
        # admin login may). The server's message, with any quoted value taken out.
        from payment_processor.redaction import redact_database_message

        first_line = (str(exc).strip().splitlines() or [""])[0]
        print(f"migrate: {type(exc).__name__}: {redact_database_message(first_line)}", file=sys.stderr)
        return 1
    print(f"migrate: applied {', '.join(done)}" if done else "migrate: schema is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
