"""In-memory fakes of the store, for fast unit tests of the logic (no I/O).

Transactions are serialized by one lock and roll back by restoring a snapshot, which is enough to
give the same all-or-nothing behaviour the logic relies on from PostgreSQL.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from payment_processor.connectors.configuration import MerchantConnector
from payment_processor.payment import (
    REFUND_PENDING,
    REQUIRES_CAPTURE,
    Payment,
    PaymentAction,
    PaymentAttempt,
    Refund,
    utc_now,
)
from payment_processor.states import PaymentStatus, RefundStatus, payment_transition, refund_transition
from payment_processor.store.interfaces import (
    CursorNotFound,
    FeedEvent,
    IdempotencyKeyTaken,
    IdempotencyRecord,
    OutboxEvent,
    OutboxHealth,
    Page,
    PageRequest,
    ProcessingHealth,
    StoredResponse,
    StoreUnavailable,
)

if TYPE_CHECKING:
    from payment_processor.apikeys import ApiKey


@dataclass
class _Key:
    fingerprint: str
    created_at: datetime
    response: StoredResponse | None = None
    payment_id: str | None = None
    refund_id: str | None = None


@dataclass
class _Event:
    event: OutboxEvent
    delivered: bool = False
    attempts: int = 0
    last_error: str | None = None
    next_attempt_at: datetime = field(default_factory=utc_now)
    dead_lettered: bool = False
    created_at: datetime = field(default_factory=utc_now)


@dataclass
class _State:
    payments: dict[str, Payment] = field(default_factory=dict)
    next_resolution_at: dict[str, datetime] = field(default_factory=dict)
    keys: dict[tuple[str, str], _Key] = field(default_factory=dict)
    events: list[_Event] = field(default_factory=list)
    sequences: dict[str, int] = field(default_factory=dict)
    actions: dict[str, PaymentAction] = field(default_factory=dict)
    action_due: dict[str, datetime] = field(default_factory=dict)
    refunds: dict[str, Refund] = field(default_factory=dict)
    refund_due: dict[str, datetime] = field(default_factory=dict)
    #: Each payment's attempts, oldest first.
    attempts: dict[str, list[PaymentAttempt]] = field(default_factory=dict)


def _checked(payment: Payment) -> Payment:
    """The payments table's CHECK constraints (migrations 0001, 0005, 0007, 0016), so a state PostgreSQL refuses
    fails here too instead of passing a unit test."""
    captured = payment.status in ("succeeded", "refunded")
    holds = (
        0 <= payment.amount_captured <= payment.amount
        and 0 <= payment.amount_refunded <= payment.amount_captured
        and captured == (payment.amount_captured > 0)
        and (payment.status != "refunded" or payment.amount_refunded == payment.amount_captured)
        and (payment.status == "canceled") == (payment.cancellation_reason is not None)
        and (payment.status == "failed") == (payment.failure_code is not None)
        and (payment.status == "declined") == (payment.decline_code is not None)
        and (payment.status in ("requires_capture", "succeeded", "canceled", "refunded"))
        == (payment.authorization_code is not None)
        and (payment.status == "requires_action") == (payment.next_action is not None)
    )
    if not holds:
        raise ValueError(f"payment {payment.id} violates a check constraint of the payments table")
    return payment


class _MemoryTransaction:
    def __init__(self, state: _State, lock: Any) -> None:
        self._state = state
        self._lock = lock

    def claim_idempotency_key(self, merchant_id: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
        existing = self._state.keys.get((merchant_id, key))
        if existing is None:
            self._state.keys[(merchant_id, key)] = _Key(fingerprint, utc_now())
            return None
        return IdempotencyRecord(existing.fingerprint, existing.response, existing.payment_id, existing.refund_id)

    def claim_new_idempotency_key(self, merchant_id: str, key: str, fingerprint: str) -> None:
        if (merchant_id, key) in self._state.keys:
            raise IdempotencyKeyTaken()
        self._state.keys[(merchant_id, key)] = _Key(fingerprint, utc_now())

    def insert_payment(self, payment: Payment) -> None:
        if payment.id in self._state.payments:
            raise ValueError(f"duplicate payment id {payment.id}")
        self._state.payments[payment.id] = _checked(payment)
        if not payment.is_final:
            self._state.next_resolution_at[payment.id] = payment.created_at
        self._bind(payment.merchant_id, payment.idempotency_key, payment.id)

    def _bind(self, merchant_id: str, key: str | None, payment_id: str, refund_id: str | None = None) -> None:
        if key is not None:
            record = self._state.keys[(merchant_id, key)]
            record.payment_id, record.refund_id = payment_id, refund_id

    def lock_payment(self, payment_id: str, merchant_id: str | None = None) -> Payment | None:
        found = self._state.payments.get(payment_id)  # transactions are serialized already
        return found if found is not None and merchant_id in (None, found.merchant_id) else None

    def approved_connector(self, payment_id: str) -> str | None:
        approved = [a for a in self._state.attempts.get(payment_id, []) if a.outcome == "approved"]
        return approved[0].connector if approved else None

    def update_payment(self, payment: Payment, *, from_status: PaymentStatus) -> None:
        payment_transition(from_status, payment.status)
        if self._state.payments[payment.id].status != from_status:
            raise RuntimeError(f"payment {payment.id} is no longer {from_status}")
        self._state.payments[payment.id] = _checked(payment)
        if payment.status != PaymentStatus.PROCESSING:
            self._state.next_resolution_at.pop(payment.id, None)

    def increment_amount(self, payment_id: str, *, from_amount: int, to_amount: int) -> None:
        current = self._state.payments[payment_id]
        if current.status != REQUIRES_CAPTURE or current.amount != from_amount or to_amount <= from_amount:
            raise RuntimeError(f"payment {payment_id} is no longer authorized for {from_amount}")
        self._state.payments[payment_id] = _checked(replace(current, amount=to_amount))

    def next_event_sequence(self, payment_id: str) -> int:
        self._state.sequences[payment_id] = self._state.sequences.get(payment_id, 0) + 1
        return self._state.sequences[payment_id]

    def insert_action(self, action: PaymentAction) -> None:
        if action.payment_id in self._state.actions:
            raise ValueError(f"payment {action.payment_id} already has an action")
        self._state.actions[action.payment_id] = action
        self._state.action_due[action.payment_id] = action.requested_at
        self._bind(action.merchant_id, action.idempotency_key, action.payment_id)

    def lock_payment_and_action(
        self, payment_id: str, merchant_id: str | None = None
    ) -> tuple[Payment | None, PaymentAction | None]:
        payment = self.lock_payment(payment_id, merchant_id)
        return payment, (None if payment is None else self._state.actions.get(payment_id))

    def delete_action(self, payment_id: str) -> None:
        self._state.actions.pop(payment_id, None)
        self._state.action_due.pop(payment_id, None)

    def record_action_failure(self, payment_id: str, retry_after_s: float) -> None:
        action = self._state.actions.get(payment_id)
        if action is not None:
            self._state.actions[payment_id] = replace(action, acquirer_attempts=action.acquirer_attempts + 1)
            self._state.action_due[payment_id] = utc_now() + timedelta(seconds=retry_after_s)

    def insert_refund(self, refund: Refund) -> None:
        if refund.amount <= 0 or refund.id in self._state.refunds:
            raise ValueError(f"refund {refund.id} violates a constraint of the refunds table")
        self._state.refunds[refund.id] = refund
        self._state.refund_due[refund.id] = refund.created_at
        self._bind(refund.merchant_id, refund.idempotency_key, refund.payment_id, refund.id)

    def lock_payment_and_refund(self, payment_id: str, refund_id: str) -> tuple[Payment | None, Refund | None]:
        payment, refund = self.lock_payment(payment_id), self._state.refunds.get(refund_id)
        return payment, (None if payment is None or refund is None or refund.payment_id != payment_id else refund)

    def update_refund(self, refund: Refund, *, from_status: RefundStatus) -> None:
        refund_transition(from_status, refund.status)
        if self._state.refunds[refund.id].status != from_status:
            raise RuntimeError(f"refund {refund.id} is no longer {from_status}")
        self._state.refunds[refund.id] = refund
        if refund.is_final:
            self._state.refund_due.pop(refund.id, None)

    def record_refund_failure(self, refund_id: str, retry_after_s: float) -> None:
        refund = self._state.refunds[refund_id]
        if not refund.is_final:
            self._state.refunds[refund_id] = replace(refund, acquirer_attempts=refund.acquirer_attempts + 1)
            self._state.refund_due[refund_id] = utc_now() + timedelta(seconds=retry_after_s)

    def lock_payment_and_pending_refunds(
        self, payment_id: str, merchant_id: str | None = None
    ) -> tuple[Payment | None, int]:
        payment = self.lock_payment(payment_id, merchant_id)
        if payment is None:
            return None, 0
        return payment, sum(
            r.amount for r in self._state.refunds.values() if r.payment_id == payment_id and r.status == REFUND_PENDING
        )

    def record_acquirer_failure(self, payment_id: str, retry_after_s: float) -> None:
        current = self._state.payments[payment_id]
        if current.is_final:
            return
        self._state.payments[payment_id] = replace(current, acquirer_attempts=current.acquirer_attempts + 1)
        self._state.next_resolution_at[payment_id] = utc_now() + timedelta(seconds=retry_after_s)

    def due_again(self, payment_id: str, after_s: float) -> None:
        if self._state.payments[payment_id].status == PaymentStatus.REQUIRES_ACTION:
            self._state.next_resolution_at[payment_id] = utc_now() + timedelta(seconds=after_s)

    def bind_idempotency_key(self, merchant_id: str, key: str, payment_id: str) -> None:
        self._bind(merchant_id, key, payment_id)

    def insert_attempt(self, attempt: PaymentAttempt) -> None:
        self._state.attempts.setdefault(attempt.payment_id, []).append(attempt)

    def finish_attempt(self, attempt_id: str, outcome: str, decline_code: str | None, latency_ms: int) -> None:
        for attempts in self._state.attempts.values():
            for i, attempt in enumerate(attempts):
                if attempt.id == attempt_id and attempt.outcome is None:
                    attempts[i] = replace(attempt, outcome=outcome, decline_code=decline_code, latency_ms=latency_ms)

    def settle_attempt(self, attempt_id: str, outcome: str, decline_code: str | None) -> None:
        for attempts in self._state.attempts.values():
            for i, attempt in enumerate(attempts):
                if attempt.id == attempt_id and attempt.outcome == "requires_action":
                    attempts[i] = replace(attempt, outcome=outcome, decline_code=decline_code)

    def stored_response(self, merchant_id: str, key: str) -> StoredResponse | None:
        record = self._state.keys.get((merchant_id, key))
        return None if record is None else record.response

    def add_event(self, event: OutboxEvent) -> None:
        if any(e.event.object_key == event.object_key for e in self._state.events):
            raise ValueError(f"duplicate object key {event.object_key}")
        self._state.events.append(_Event(replace(event, id=len(self._state.events) + 1)))

    def complete_idempotency_key(
        self, merchant_id: str, key: str, response: StoredResponse, payment_id: str | None
    ) -> None:
        record = self._state.keys[(merchant_id, key)]
        record.response = response
        record.payment_id = payment_id

    def lease_outbox(self, payment_id: str, *, limit: int, lease_s: float) -> _MemoryLeased:
        return _MemoryLeased(_lease(self._state, self._lock, limit=limit, lease_s=lease_s, payment_id=payment_id))


class _MemoryBatch:
    """Leased events, as the PostgreSQL store's batch: each mark made at once, unmarked ones given back."""

    def __init__(self, rows: list[_Event], due: list[datetime], leased_until: datetime, lock: Any) -> None:
        self.lock = lock
        self._rows = {row.event.id: row for row in rows}
        self._due = {row.event.id: at for row, at in zip(rows, due, strict=True)}
        self._leased_until = leased_until
        self._marked: set[int] = set()
        self.events = [replace(row.event, attempts=row.attempts) for row in rows]

    def mark_delivered(self, event_id: int) -> None:
        with self.lock:
            row = self._rows[event_id]
            if not row.delivered:
                row.delivered = True
                row.attempts += 1
                row.last_error = None
            self._marked.add(event_id)

    def mark_failed(self, event_id: int, error: str, *, retry_after_s: float | None) -> None:
        with self.lock:
            row = self._rows[event_id]
            self._marked.add(event_id)
            if row.delivered:
                return  # another deliverer put it meanwhile: a late failure never undoes a delivery
            row.attempts += 1
            row.last_error = error
            if retry_after_s is None:
                row.dead_lettered = True
            else:
                row.next_attempt_at = utc_now() + timedelta(seconds=retry_after_s)

    def release(self) -> None:
        """Give back the unmarked events still under this lease (call with the store's lock held)."""
        for event_id, row in self._rows.items():
            if event_id not in self._marked and not row.delivered and row.next_attempt_at == self._leased_until:
                row.next_attempt_at = self._due[event_id]


def _lease(state: _State, lock: Any, *, limit: int, lease_s: float, payment_id: str | None) -> _MemoryBatch:
    """Lease due events, oldest first (call with the store's lock held)."""
    now = utc_now()
    rows = sorted(
        (
            row
            for row in state.events
            if not row.delivered
            and not row.dead_lettered
            and row.next_attempt_at <= now
            and (payment_id is None or row.event.payment_id == payment_id)
        ),
        key=lambda row: (row.next_attempt_at, row.event.id or 0),
    )[:limit]
    due = [row.next_attempt_at for row in rows]
    leased_until = now + timedelta(seconds=lease_s)
    for row in rows:
        row.next_attempt_at = leased_until
    return _MemoryBatch(rows, due, leased_until, lock)


class _MemoryLeased:
    """Events a transaction leased; the batch gives back its unmarked ones when its block ends."""

    def __init__(self, batch: _MemoryBatch) -> None:
        self._batch = batch

    @contextmanager
    def batch(self) -> Iterator[_MemoryBatch]:
        try:
            yield self._batch
        finally:
            with self._batch.lock:
                self._batch.release()


class InMemoryStore:
    """A PaymentStore held in a dict. ``available = False`` makes it behave like an unreachable database."""

    def __init__(self) -> None:
        self._state = _State()
        self._lock = threading.RLock()
        #: Transactions open right now: a test asks it what an outside call (the acquirer) was made inside.
        self.open_transactions = 0
        self.available = True
        #: Merchants' configured connectors (the admin function writes them; a test sets them here).
        self.connectors: dict[str, list[MerchantConnector]] = {}

    def _check(self) -> None:
        if not self.available:
            raise StoreUnavailable("in-memory store switched off")

    @contextmanager
    def transaction(self) -> Iterator[_MemoryTransaction]:
        """All-or-nothing: the state is restored if the block raises."""
        self._check()
        with self._lock:
            snapshot = copy.deepcopy(self._state)
            self.open_transactions += 1
            try:
                yield _MemoryTransaction(self._state, self._lock)
            except BaseException:
                self._state = snapshot
                raise
            finally:
                self.open_transactions -= 1

    def get_payment(self, payment_id: str, merchant_id: str) -> Payment | None:
        """The payment with this id if it is the merchant's, or None."""
        self._check()
        found = self._state.payments.get(payment_id)
        return found if found is not None and found.merchant_id == merchant_id else None

    def get_payment_with_attempts(
        self, payment_id: str, merchant_id: str
    ) -> tuple[Payment, list[PaymentAttempt]] | None:
        payment = self.get_payment(payment_id, merchant_id)
        return None if payment is None else (payment, list(self._state.attempts.get(payment_id, [])))

    def last_attempt(self, payment_id: str) -> PaymentAttempt | None:
        attempts = self._state.attempts.get(payment_id, [])
        return attempts[-1] if attempts else None

    def approved_connector(self, payment_id: str) -> str | None:
        return _MemoryTransaction(self._state, None).approved_connector(payment_id)

    def merchant_connectors(self, merchant_id: str) -> list[MerchantConnector]:
        return sorted(self.connectors.get(merchant_id, []), key=lambda c: c.priority)

    def next_attempt(self, attempt_id: str, payment_id: str, connector: str) -> PaymentAttempt | None:
        self._check()
        with self._lock:
            payment = self._state.payments.get(payment_id)
            if payment is None or payment.is_final:
                return None
            attempts = self._state.attempts.setdefault(payment_id, [])
            kept = next((a.reference for a in attempts if a.connector == connector and a.reference), None)
            attempt = PaymentAttempt(attempt_id, payment_id, connector, utc_now())
            attempts.append(attempt)
            return replace(attempt, reference=kept)

    def remember_reference(self, attempt: PaymentAttempt, reference: str) -> str:
        self._check()
        with self._lock:
            attempts = self._state.attempts.get(attempt.payment_id, [])
            kept = next((a.reference for a in attempts if a.connector == attempt.connector and a.reference), None)
            if kept is not None:
                return kept
            for i, made in enumerate(attempts):
                if made.id == attempt.id:
                    attempts[i] = replace(made, reference=reference)
            return reference

    def get_refund(self, refund_id: str, merchant_id: str) -> Refund | None:
        """The refund with this id if it is the merchant's, or None."""
        self._check()
        found = self._state.refunds.get(refund_id)
        return found if found is not None and found.merchant_id == merchant_id else None

    def get_action(self, payment_id: str) -> PaymentAction | None:
        """The payment's waiting action, if any."""
        self._check()
        return self._state.actions.get(payment_id)

    def list_payments(self, merchant_id: str, page: PageRequest, *, status: str | None = None) -> Page[Payment]:
        """The merchant's payments, newest first."""
        self._check()
        mine = [p for p in self._state.payments.values() if p.merchant_id == merchant_id]
        return _page(mine, page, lambda p: (p.created_at, p.id), lambda p: status in (None, p.status))

    def list_refunds(self, merchant_id: str, payment_id: str, page: PageRequest) -> Page[Refund]:
        """The payment's refunds, newest first."""
        self._check()
        mine = [r for r in self._state.refunds.values() if r.merchant_id == merchant_id and r.payment_id == payment_id]
        return _page(mine, page, lambda r: (r.created_at, r.id), lambda r: True)

    def get_event(self, merchant_id: str, event_id: str) -> FeedEvent | None:
        """The merchant's event (another merchant's is None, as an unknown one)."""
        self._check()
        for row in self._state.events:
            if row.event.merchant_id == merchant_id and row.event.event_id == event_id:
                return FeedEvent(event_id, row.event.body)
        return None

    def list_events(self, merchant_id: str, page: PageRequest) -> Page[FeedEvent]:
        """The merchant's events, newest first (transactions are serialized: insertion order is commit order)."""
        self._check()
        rows = [
            _Row(
                row.created_at,
                (row.event.id or 0, row.event.event_id or ""),
                FeedEvent(row.event.event_id or "", row.event.body),
            )
            for row in self._state.events
            if row.event.merchant_id == merchant_id
        ]
        keys = {row.item.event_id: row.key for row in rows}
        cursor_id = page.starting_after or page.ending_before
        if cursor_id is not None and cursor_id not in keys:
            raise CursorNotFound(cursor_id)
        found = _page(rows, page, lambda r: r.key, lambda r: True, cursor_key=keys.__getitem__)
        return Page([row.item for row in found.items], found.has_more)

    def due_actions(self, *, limit: int, older_than_s: float) -> list[PaymentAction]:
        """Waiting actions due for another try."""
        self._check()
        now = utc_now()
        due = [
            a
            for a in self._state.actions.values()
            if self._state.action_due[a.payment_id] <= now and a.requested_at < now - timedelta(seconds=older_than_s)
        ]
        return sorted(due, key=lambda a: self._state.action_due[a.payment_id])[:limit]

    def pending_refunds(self, *, limit: int, older_than_s: float) -> list[Refund]:
        """Pending refunds due for another try."""
        self._check()
        now = utc_now()
        due = [
            r
            for r in self._state.refunds.values()
            if not r.is_final
            and self._state.refund_due.get(r.id, now) <= now
            and r.created_at < now - timedelta(seconds=older_than_s)
        ]
        return sorted(due, key=lambda r: self._state.refund_due.get(r.id, now))[:limit]

    def expired_authorizations(self, *, limit: int, older_than_s: float) -> list[Payment]:
        """Authorizations older than the limit with no action waiting."""
        self._check()
        cutoff = utc_now() - timedelta(seconds=older_than_s)
        old = [
            p
            for p in self._state.payments.values()
            if p.status == REQUIRES_CAPTURE and p.changed_at < cutoff and p.id not in self._state.actions
        ]
        return sorted(old, key=lambda p: p.changed_at)[:limit]

    def keys_expiring_within(self, window_s: float) -> int:
        return 0  # the in-memory payment store holds no keys (InMemoryKeyStore does)

    def awaiting_authentication(self, *, limit: int) -> list[Payment]:
        self._check()
        now = utc_now()
        due = [
            payment
            for payment in self._state.payments.values()
            if payment.status == PaymentStatus.REQUIRES_ACTION
            and self._state.next_resolution_at.get(payment.id, now) <= now
        ]
        return sorted(due, key=lambda p: self._state.next_resolution_at[p.id])[:limit]

    def processing_payments(self, *, limit: int, older_than_s: float) -> list[Payment]:
        """Processing payments due for another try, oldest first."""
        self._check()
        now = utc_now()
        due = [
            payment
            for payment in self._state.payments.values()
            if payment.status == PaymentStatus.PROCESSING
            and self._state.next_resolution_at.get(payment.id, now) <= now
            and payment.changed_at < now - timedelta(seconds=older_than_s)
        ]
        return sorted(due, key=lambda p: self._state.next_resolution_at.get(p.id, now))[:limit]

    @contextmanager
    def claim_outbox(self, *, limit: int, lease_s: float, payment_id: str | None = None) -> Iterator[_MemoryBatch]:
        """Lease due events, oldest first; the unmarked ones are given back when the block ends."""
        self._check()
        with self._lock:
            batch = _lease(self._state, self._lock, limit=limit, lease_s=lease_s, payment_id=payment_id)
        try:
            yield batch
        finally:
            with self._lock:
                batch.release()

    def outbox_health(self) -> OutboxHealth:
        """Counts and the oldest waiting event's age."""
        self._check()
        waiting = [row for row in self._state.events if not row.delivered and not row.dead_lettered]
        oldest = min((row.created_at for row in waiting), default=None)
        return OutboxHealth(
            pending=len(waiting),
            dead_lettered=sum(row.dead_lettered for row in self._state.events),
            oldest_pending_age_s=(utc_now() - oldest).total_seconds() if oldest else 0.0,
        )

    def processing_health(self) -> ProcessingHealth:
        """Count and oldest age of everything waiting for the acquirer."""
        self._check()
        waiting = [p.created_at for p in self._state.payments.values() if not p.is_final]
        waiting += [a.requested_at for a in self._state.actions.values()]
        waiting += [r.created_at for r in self._state.refunds.values() if not r.is_final]
        oldest = min(waiting, default=None)
        return ProcessingHealth(len(waiting), (utc_now() - oldest).total_seconds() if oldest else 0.0)

    def purge_idempotency_keys(self, *, older_than_hours: int) -> int:
        """Delete keys older than the given age."""
        self._check()
        cutoff = utc_now() - timedelta(hours=older_than_hours)
        with self._lock:
            old = [k for k, v in self._state.keys.items() if v.created_at < cutoff and v.response is not None]
            for k in old:
                del self._state.keys[k]
            return len(old)

    # Inspection helpers for tests.
    def payment_count(self) -> int:
        """How many payments are stored."""
        return len(self._state.payments)

    def pending_events(self) -> list[OutboxEvent]:
        """Events not yet delivered (dead-lettered ones included)."""
        return [row.event for row in self._state.events if not row.delivered]

    def make_due(self) -> None:
        """Pretend every backoff has passed (for retry tests)."""
        for row in self._state.events:
            row.next_attempt_at = utc_now() - timedelta(seconds=1)

    def make_resolution_due(self) -> None:
        """Pretend every backoff of a payment, capture, cancel or refund waiting for the acquirer has passed."""
        for due in (self._state.next_resolution_at, self._state.action_due, self._state.refund_due):
            for key in due:
                due[key] = utc_now() - timedelta(seconds=1)

    def key_count(self) -> int:
        """How many idempotency keys are stored."""
        return len(self._state.keys)

    def age_keys(self, hours: int) -> None:
        """Pretend every key was created ``hours`` earlier (for purge tests)."""
        for record in self._state.keys.values():
            record.created_at -= timedelta(hours=hours)


@dataclass(frozen=True)
class _Row:
    created_at: datetime
    key: tuple[int, str]
    item: FeedEvent


def _page(
    items: list[Any],
    page: PageRequest,
    key: Callable[[Any], Any],
    keep: Callable[[Any], bool],
    cursor_key: Callable[[str], Any] | None = None,
) -> Page[Any]:
    """Keyset paging over ``key`` as PostgresStore does it: newest first, cursors exclusive."""
    by_id = {getattr(item, "id", None): item for item in items}
    bound = None
    cursor_id = page.starting_after or page.ending_before
    if cursor_id is not None:
        if cursor_key is not None:
            bound = cursor_key(cursor_id)
        elif cursor_id in by_id:
            bound = key(by_id[cursor_id])
        else:
            raise CursorNotFound(cursor_id)
    chosen = [
        item
        for item in items
        if keep(item)
        and (page.created_gte is None or item.created_at >= page.created_gte)
        and (page.created_lt is None or item.created_at < page.created_lt)
        and (bound is None or (key(item) > bound if page.ending_before else key(item) < bound))
    ]
    ascending = page.ending_before is not None
    chosen.sort(key=key, reverse=not ascending)
    has_more = len(chosen) > page.limit
    chosen = chosen[: page.limit]
    if ascending:
        chosen.reverse()
    return Page(chosen, has_more)


class InMemoryKeyStore:
    """A KeyStore in a dict, for unit tests; ``hashes`` shows exactly what would be stored."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.keys: dict[str, ApiKey] = {}
        self.hashes: dict[bytes, str] = {}
        #: (address, window start) -> failures, as migration 0019's table keeps them.
        self.failures: dict[tuple[str, datetime], int] = {}
        self._clock = clock

    def insert_key(self, key: ApiKey, secret_hash: bytes) -> None:
        """Store a new key."""
        if key.id in self.keys or secret_hash in self.hashes:
            raise ValueError("duplicate key")
        self.keys[key.id] = key
        self.hashes[secret_hash] = key.id

    def find_key(self, secret_hash: bytes) -> tuple[ApiKey, bytes] | None:
        """The key stored with this hash, and the hash."""
        key_id = self.hashes.get(secret_hash)
        return None if key_id is None else (self.keys[key_id], secret_hash)

    def list_keys(self, merchant_id: str | None) -> list[ApiKey]:
        """Keys newest first."""
        found = [k for k in self.keys.values() if merchant_id is None or k.merchant_id == merchant_id]
        return sorted(found, key=lambda k: k.created_at, reverse=True)

    def revoke_key(self, key_id: str, at: datetime) -> ApiKey | None:
        """Revoke once."""
        key = self.keys.get(key_id)
        if key is None:
            return None
        if key.revoked_at is None:
            key = self.keys[key_id] = replace(key, revoked_at=at)
        return key

    def get_key(self, key_id: str) -> ApiKey | None:
        """The key with this id."""
        return self.keys.get(key_id)

    def roll_key(self, key_id: str, replaced_by: str, expires_at: datetime) -> ApiKey | None:
        """Only a key neither revoked nor rolled."""
        key = self.keys.get(key_id)
        if key is None or key.revoked_at is not None or key.replaced_by is not None:
            return None
        key = self.keys[key_id] = replace(key, replaced_by=replaced_by, expires_at=expires_at)
        return key

    def note_key_use(self, key_id: str, hour: datetime) -> None:
        """Keep the later hour."""
        key = self.keys[key_id]
        if key.last_used_at is None or key.last_used_at < hour:
            self.keys[key_id] = replace(key, last_used_at=hour)

    def note_failed_authentication(self, address: str, window_s: int) -> tuple[int, datetime]:
        """Count one failure in the fixed window the clock is in, by the epoch as the database does."""
        now = (self._clock or utc_now)()
        began = datetime.fromtimestamp(now.timestamp() // window_s * window_s, tz=now.tzinfo)
        failures = self.failures[(address, began)] = self.failures.get((address, began), 0) + 1
        return failures, began + timedelta(seconds=window_s)
