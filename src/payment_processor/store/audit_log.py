"""Where the audit log lives: the append-only PostgreSQL table of migration 0018 (data access, the admin
function's connection only: the processor's and the authorizer's roles cannot read it)."""

from __future__ import annotations

from datetime import datetime

from psycopg.rows import args_row
from psycopg.types.json import Jsonb

from payment_processor.audit import AuditEntry
from payment_processor.store.database import Database
from payment_processor.store.postgres import in_statement

_COLUMNS = "actor, action, outcome, target, detail, at, id"
_AS_ENTRY = args_row(AuditEntry)


class PostgresAuditLog:
    """Appends entries and reads them back, newest first."""

    def __init__(self, database: Database) -> None:
        self._db = database

    def append(self, entry: AuditEntry) -> AuditEntry:
        """One entry, in a statement of its own (the action it records has committed, or failed, already); the
        entry as stored, with its id and time."""
        with in_statement(self._db) as conn:
            stored = (
                conn.cursor(row_factory=_AS_ENTRY)
                .execute(
                    f"INSERT INTO audit_log (actor, action, outcome, target, detail) VALUES (%s, %s, %s, %s, %s) "
                    f"RETURNING {_COLUMNS}",
                    (entry.actor, entry.action, entry.outcome, entry.target, Jsonb(entry.detail)),
                )
                .fetchone()
            )
        assert stored is not None
        return stored

    def list(self, *, since: datetime | None, limit: int) -> list[AuditEntry]:
        """Entries at or after ``since`` (all, without it), newest first, at most ``limit``."""
        with in_statement(self._db) as conn:
            return (
                conn.cursor(row_factory=_AS_ENTRY)
                .execute(
                    f"SELECT {_COLUMNS} FROM audit_log WHERE %(since)s::timestamptz IS NULL OR at >= %(since)s "
                    "ORDER BY at DESC, id DESC LIMIT %(limit)s",
                    {"since": since, "limit": limit},
                )
                .fetchall()
            )
