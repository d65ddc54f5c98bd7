"""What an operator reads to find out what happened to a payment (storage layer; the admin function's reads for
the console's payments pages).

- :func:`find_payments`: payments of any merchant by id, merchant, status, amount and time range, newest first,
  a keyset page at a time (``starting_after`` the last id seen).
- :func:`webhook_endpoints` and :func:`endpoint_attempts`: every merchant's webhook endpoints (where they send:
  scheme, host, port and path only; a URL may carry credentials in its user part, path parameters or query)
  with their delivery counts, and one endpoint's delivery attempts, newest first.
- :func:`payment_timeline`: one payment with everything that happened to it, each with its time: its events
  (and whether each is in S3 yet), refunds, acquirer attempts, a capture or cancel in flight, webhook deliveries
  of its events, and the answers stored under its idempotency keys.

Filters arrive from a browser form through the admin function: each is checked here and refused with a
:class:`SearchError` that says which and why, before any statement runs.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from psycopg.rows import dict_row

from payment_processor.payment import isoformat
from payment_processor.states import PaymentStatus
from payment_processor.store.database import Database
from payment_processor.store.postgres import in_statement, in_transaction

PAGE_MAX = 100
_PAYMENT_ID = re.compile(r"pay_[a-z2-7]{26}")
_ENDPOINT_ID = re.compile(r"we_[a-z2-7]{26}")
_MERCHANT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SUMMARY = "id, merchant_id, amount, currency, status, capture_method, created_at"


class SearchError(ValueError):
    """A filter that cannot be used; the message names it."""


def find_payments(database: Database, filters: dict[str, Any]) -> dict[str, Any]:
    """A page of payments matching ``filters``, newest first, and whether there are more."""
    where, params = _conditions(filters)
    limit = _whole(filters.get("limit", 25), "limit", 1, PAGE_MAX)
    after = filters.get("starting_after")
    if after is not None:
        if not isinstance(after, str) or not _PAYMENT_ID.fullmatch(after):
            raise SearchError("starting_after is a payment id (pay_ and 26 letters or digits)")
        where.append("(created_at, id) < (SELECT created_at, id FROM payments WHERE id = %(after)s)")
        params["after"] = after
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    with in_statement(database) as conn:
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                f"SELECT {_SUMMARY} FROM payments {clause} ORDER BY created_at DESC, id DESC LIMIT %(n)s",
                {**params, "n": limit + 1},
            )
            .fetchall()
        )
    return {"payments": [_times(row) for row in rows[:limit]], "has_more": len(rows) > limit}


def _conditions(filters: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    unknown = set(filters) - {
        "payment_id",
        "merchant_id",
        "status",
        "amount_min",
        "amount_max",
        "created_from",
        "created_to",
        "limit",
        "starting_after",
    }
    if unknown:
        raise SearchError(f"unknown filter(s): {', '.join(sorted(unknown))[:200]}")
    where: list[str] = []
    params: dict[str, Any] = {}
    for name, column, shape, text in (
        ("payment_id", "id", _PAYMENT_ID, "pay_ and 26 letters or digits"),
        ("merchant_id", "merchant_id", _MERCHANT, "1 to 64 letters, digits, '_' or '-'"),
    ):
        if filters.get(name) is not None:
            value = filters[name]
            if not isinstance(value, str) or not shape.fullmatch(value):
                raise SearchError(f"{name} is {text}")
            where.append(f"{column} = %({name})s")
            params[name] = value
    if filters.get("status") is not None:
        value = filters["status"]
        if value not in {status.value for status in PaymentStatus}:
            raise SearchError(f"status is one of {', '.join(status.value for status in PaymentStatus)}")
        where.append("status = %(status)s")
        params["status"] = value
    for name, operator in (("amount_min", ">="), ("amount_max", "<=")):
        if filters.get(name) is not None:
            params[name] = _whole(filters[name], name, 1, 2**63 - 1)
            where.append(f"amount {operator} %({name})s")
    for name, operator in (("created_from", ">="), ("created_to", "<")):
        if filters.get(name) is not None:
            params[name] = _moment(filters[name], name)
            where.append(f"created_at {operator} %({name})s")
    return where, params


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise SearchError(f"{name} is a whole number from {low} to {high}")
    return value


def _moment(value: Any, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise SearchError(f"{name} is an ISO 8601 time with its zone, e.g. 2026-12-07T09:00:00Z")
    return moment


def payment_timeline(database: Database, payment_id: Any) -> dict[str, Any] | None:
    """The payment and what happened to it, in one REPEATABLE READ snapshot; None when there is no such payment."""
    if not isinstance(payment_id, str) or not _PAYMENT_ID.fullmatch(payment_id):
        raise SearchError("payment_id is pay_ and 26 letters or digits")
    with in_transaction(database) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cursor = conn.cursor(row_factory=dict_row)

        def rows(statement: str) -> list[dict[str, Any]]:
            return [_times(row) for row in cursor.execute(statement, {"id": payment_id}).fetchall()]

        payment = rows(
            f"SELECT {_SUMMARY}, amount_captured, amount_refunded, decline_code, failure_code, cancellation_reason, "
            "description, customer_id, metadata, updated_at FROM payments WHERE id = %(id)s"
        )
        if not payment:
            return None
        events = rows(
            "SELECT event_id, event_type, created_at, delivered_at, dead_lettered_at, attempts, object_key "
            "FROM transaction_log_outbox WHERE payment_id = %(id)s ORDER BY id"
        )
        refunds = rows(
            "SELECT id, amount, currency, status, reason, failure_code, created_at, updated_at "
            "FROM refunds WHERE payment_id = %(id)s ORDER BY created_at, id"
        )
        attempts = rows(
            "SELECT id, connector, outcome, decline_code, latency_ms, created_at, answered_at "
            "FROM payment_attempts WHERE payment_id = %(id)s ORDER BY created_at, id"
        )
        in_flight = rows(
            "SELECT id, action, amount, cancellation_reason, requested_at, acquirer_attempts, next_resolution_at "
            "FROM payment_actions WHERE payment_id = %(id)s"
        )
        deliveries = rows(
            "SELECT d.id, d.event_id, d.endpoint_id, d.manual, d.status, d.attempts, d.created_at, d.next_attempt_at "
            "FROM webhook_deliveries d JOIN transaction_log_outbox o ON o.event_id = d.event_id "
            "WHERE o.payment_id = %(id)s ORDER BY d.created_at, d.id"
        )
        answers = rows(
            "SELECT idempotency_key, response_status, response_body, created_at, refund_id FROM idempotency_keys "
            "WHERE payment_id = %(id)s OR refund_id IN (SELECT id FROM refunds WHERE payment_id = %(id)s) "
            "ORDER BY created_at"
        )
    return {
        "payment": payment[0],
        "events": events,
        "refunds": refunds,
        "attempts": attempts,
        "in_flight": in_flight,
        "webhook_deliveries": deliveries,
        "idempotency_answers": answers,
    }


def _times(row: dict[str, Any]) -> dict[str, Any]:
    return {k: isoformat(v) if isinstance(v, datetime) else v for k, v in row.items()}


def webhook_endpoints(database: Database) -> dict[str, Any]:
    """Every endpoint (failing first, then newest) with its deliveries by status."""
    with in_statement(database) as conn:
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                "SELECT e.id, e.merchant_id, e.url, e.status, e.disabled_reason, e.failing_since, e.created_at, "
                "cardinality(e.enabled_events) AS events, "
                "count(d.id) FILTER (WHERE d.status = 'succeeded') AS succeeded, "
                "count(d.id) FILTER (WHERE d.status IN ('pending', 'retrying')) AS waiting, "
                "count(d.id) FILTER (WHERE d.status = 'abandoned') AS abandoned "
                "FROM webhook_endpoints e LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id "
                "GROUP BY e.id ORDER BY e.failing_since NULLS LAST, e.created_at DESC, e.id LIMIT 500"
            )
            .fetchall()
        )
    return {"endpoints": [_times({**row, "url": _where(row["url"])}) for row in rows]}


def endpoint_attempts(database: Database, endpoint_id: Any) -> dict[str, Any]:
    """One endpoint's last 100 delivery attempts, newest first (the receiver's answer as the sender redacted it)."""
    if not isinstance(endpoint_id, str) or not _ENDPOINT_ID.fullmatch(endpoint_id):
        raise SearchError("endpoint_id is we_ and 26 letters or digits")
    with in_statement(database) as conn:
        rows = (
            conn.cursor(row_factory=dict_row)
            .execute(
                "SELECT attempted_at, event_id, delivery_id, attempt, status_code, error, latency_ms, next_attempt_at, "
                "excerpt FROM webhook_attempts WHERE endpoint_id = %s ORDER BY attempted_at DESC, id DESC LIMIT 100",
                (endpoint_id,),
            )
            .fetchall()
        )
    return {"attempts": [_times(row) for row in rows]}


def _where(url: str) -> str:
    """Where a URL sends, without what may be secret in it (user, password, query, fragment)."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unreadable URL)"
    path = parts.path.split(";", 1)[0]  # path parameters (;token=…) may carry a secret as a query does
    return f"{parts.scheme}://{parts.hostname or ''}{port}{path}"
