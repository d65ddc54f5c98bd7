"""What the operator console's overview shows, read in one snapshot by the admin function (storage layer).

Payments by outcome per minute over the last hour and per hour over the last day, the authorization rate, the
payments still processing and the oldest of them, the transaction-log outbox (backlog, oldest undelivered,
dead-lettered) and webhook endpoints with failing deliveries. Counts and times only: no payment's description,
metadata or customer, no endpoint URL (one may carry credentials), no secret.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.rows import dict_row

from payment_processor.payment import isoformat
from payment_processor.store.database import Database
from payment_processor.store.postgres import in_transaction

#: How a payment's status counts on the overview: approved (the acquirer said yes, whatever happened after),
#: declined, failed, or still open (processing, waiting for the cardholder).
OUTCOMES = {
    "succeeded": "succeeded",
    "requires_capture": "succeeded",
    "refunded": "succeeded",
    "declined": "declined",
    "failed": "failed",
    "processing": "open",
    "requires_action": "open",
    "canceled": "canceled",
}
#: The series the chart shows, in order.
CHARTED = ("succeeded", "declined", "failed")
MINUTES = 60
HOURS = 24

_BUCKETS = """
    SELECT floor(extract(epoch FROM created_at) / %(width)s)::bigint AS bucket, status, count(*) AS n
      FROM payments
     WHERE created_at >= to_timestamp((floor(extract(epoch FROM now()) / %(width)s) - %(count)s + 1) * %(width)s)
     GROUP BY 1, 2
"""


def read_overview(database: Database) -> dict[str, Any]:
    """The overview, every figure from one REPEATABLE READ snapshot (the counts agree with each other)."""
    with in_transaction(database) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        now = conn.execute("SELECT now()").fetchone()[0]  # type: ignore[index]
        minutes = _series(conn, now, width=60, count=MINUTES)
        hours = _series(conn, now, width=3600, count=HOURS)
        processing = conn.execute(
            "SELECT count(*), min(created_at) FROM payments WHERE status IN ('processing', 'requires_action')"
        ).fetchone()
        outbox = conn.execute(
            "SELECT count(*) FILTER (WHERE dead_lettered_at IS NULL), "
            "min(created_at) FILTER (WHERE dead_lettered_at IS NULL), count(*) FILTER (WHERE dead_lettered_at "
            "IS NOT NULL) FROM transaction_log_outbox WHERE delivered_at IS NULL"
        ).fetchone()
        failing = (
            conn.cursor(row_factory=dict_row)
            .execute(
                "SELECT e.id, e.merchant_id, e.status, e.failing_since, e.disabled_reason, "
                "count(d.id) FILTER (WHERE d.status = 'abandoned') AS abandoned, "
                "count(d.id) FILTER (WHERE d.status = 'retrying') AS retrying "
                "FROM webhook_endpoints e LEFT JOIN webhook_deliveries d ON d.endpoint_id = e.id "
                "WHERE e.failing_since IS NOT NULL OR e.disabled_reason IS NOT NULL "
                "OR d.status IN ('abandoned', 'retrying') "
                "GROUP BY e.id ORDER BY e.failing_since NULLS LAST, e.id LIMIT 50"
            )
            .fetchall()
        )
    assert processing is not None and outbox is not None
    return {
        "now": isoformat(now),
        "last_hour": minutes,
        "last_day": hours,
        "processing": {"count": processing[0], "oldest_created_at": _time(processing[1])},
        "outbox": {"backlog": outbox[0], "oldest_undelivered_at": _time(outbox[1]), "dead_lettered": outbox[2]},
        "failing_webhook_endpoints": [{**row, "failing_since": _time(row["failing_since"])} for row in failing],
    }


def _series(conn: Any, now: datetime, *, width: int, count: int) -> dict[str, Any]:
    """``count`` buckets of ``width`` seconds ending with the one ``now`` is in: payments by outcome in each, the
    totals, and the authorization rate (approved of approved + declined + failed; None with none of those)."""
    last = int(now.timestamp()) // width
    first = last - count + 1
    kinds = (*CHARTED, "open", "canceled")
    counts = [dict.fromkeys(kinds, 0) for _ in range(count)]
    for bucket, status, n in conn.execute(_BUCKETS, {"width": width, "count": count}).fetchall():
        if 0 <= int(bucket) - first < count:
            counts[int(bucket) - first][OUTCOMES.get(status, "open")] += int(n)
    buckets = [
        {"start": isoformat(datetime.fromtimestamp((first + i) * width, tz=now.tzinfo)), **counted}
        for i, counted in enumerate(counts)
    ]
    totals = {kind: sum(counted[kind] for counted in counts) for kind in kinds}
    decided = sum(totals[kind] for kind in CHARTED)
    rate = None if decided == 0 else round(totals["succeeded"] / decided, 4)
    return {"bucket_s": width, "buckets": buckets, "totals": totals, "authorization_rate": rate}


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else isoformat(moment)
