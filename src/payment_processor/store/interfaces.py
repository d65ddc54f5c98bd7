"""The small interfaces between the payment logic and its storage.

``PaymentStore.transaction()`` is one database transaction: what is written in it (an idempotency
claim, a payment or its state change, their transaction-log events) commits together or not at all.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from payment_processor.connectors.configuration import MerchantConnector
from payment_processor.payment import Payment, PaymentAction, PaymentAttempt, Refund
from payment_processor.states import PaymentStatus, RefundStatus

if TYPE_CHECKING:
    from payment_processor.apikeys import ApiKey


class StoreUnavailable(Exception):
    """The database cannot be reached or refused the connection; the request may be retried."""


class IdempotencyKeyBusy(Exception):
    """Another transaction holds this idempotency key and did not finish within the lock timeout."""


class IdempotencyKeyTaken(Exception):
    """A key claimed as new (``Transaction.claim_new_idempotency_key``) was another request's: the transaction
    that claimed it is rolled back."""


class CursorNotFound(Exception):
    """A list's cursor names no object of the merchant's (unknown, or another merchant's)."""


T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    """One page of a list, newest first: at most ``limit`` objects older than ``starting_after`` or newer
    than ``ending_before`` (object ids, never both), created in ``[created_gte, created_lt)``."""

    limit: int
    starting_after: str | None = None
    ending_before: str | None = None
    created_gte: datetime | None = None
    created_lt: datetime | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """The page's objects, newest first, and whether more lie beyond it in the direction walked."""

    items: list[T]
    has_more: bool


@dataclass(frozen=True)
class FeedEvent:
    """One transaction-log event as the events feed shows it (``body`` is the logged JSON text)."""

    event_id: str
    body: str


@dataclass(frozen=True)
class StoredResponse:
    """A response kept under an idempotency key, replayed verbatim for a retry: ``body`` is the exact
    JSON text first sent (not a parsed object, whose re-encoding could order keys otherwise)."""

    status: int
    body: str


@dataclass(frozen=True)
class IdempotencyRecord:
    """What an earlier request left under its key: its response once the payment is final, else None
    (the payment ``payment_id`` was recorded but is still processing)."""

    fingerprint: str
    response: StoredResponse | None
    payment_id: str | None = None
    refund_id: str | None = None


@dataclass(frozen=True)
class OutboxEvent:
    """One transaction-log object waiting to be written to S3 (``body`` is its exact bytes as text)."""

    payment_id: str | None  # None: an event of the merchant's, not a payment's (webhook_endpoint.disabled)
    event_type: str
    object_key: str
    body: str
    id: int | None = None
    attempts: int = 0  # failed deliveries so far
    merchant_id: str | None = None  # set on every event written (the feed's scope); not read back to deliver
    event_id: str | None = None


@dataclass(frozen=True)
class OutboxHealth:
    """How the outbox stands: what is waiting, what was set aside, how old the oldest waiting event is."""

    pending: int
    dead_lettered: int
    oldest_pending_age_s: float


@dataclass(frozen=True)
class ProcessingHealth:
    """Operations recorded but not yet answered by the acquirer (a crash, or an acquirer that does not
    answer): payments still processing, captures and cancels waiting, refunds pending."""

    processing: int
    oldest_processing_age_s: float


class Transaction(Protocol):
    """Operations inside one database transaction."""

    def claim_idempotency_key(self, merchant_id: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
        """Claim ``key`` for this transaction, or return the record a finished request left under it.

        Returns None when the claim is new. When another transaction holds the key this waits for it
        to finish (then returns its record) and raises IdempotencyKeyBusy after the lock timeout.
        """
        ...

    def claim_new_idempotency_key(self, merchant_id: str, key: str, fingerprint: str) -> None:
        """Claim ``key`` expecting it to be new, without waiting to hear so: the statements after it go with it.
        If it was another request's, the transaction fails with IdempotencyKeyTaken (after waiting for a holder
        to finish, as ``claim_idempotency_key`` does) and nothing of it is kept: ask ``claim_idempotency_key``."""
        ...

    def insert_payment(self, payment: Payment) -> None:
        """Insert a new payment; the key it was asked with (claimed in this transaction) is bound to it."""
        ...

    def lock_payment(self, payment_id: str, merchant_id: str | None = None) -> Payment | None:
        """The payment (only if it is ``merchant_id``'s, when given), locked until this transaction ends:
        everything that changes a payment or its refunds queues here."""
        ...

    def lock_payment_and_action(
        self, payment_id: str, merchant_id: str | None = None
    ) -> tuple[Payment | None, PaymentAction | None]:
        """``lock_payment``, and the payment's recorded action (capture, cancel, increment) waiting for the
        acquirer's answer if there is one, locked after it (None when the payment is not found)."""
        ...

    def approved_connector(self, payment_id: str) -> str | None:
        """The connector whose attempt authorized a payment this transaction locked (None for none), as the
        lock read it: no round trip of its own."""
        ...

    def update_payment(self, payment: Payment, *, from_status: PaymentStatus) -> None:
        """Write a locked payment's status, codes, amounts and ``updated_at``: the one way a payment's state
        changes. The move from ``from_status`` must be in the table (``states.payment_transition``, checked
        before anything is written), and the row must still be in ``from_status``."""
        ...

    def increment_amount(self, payment_id: str, *, from_amount: int, to_amount: int) -> None:
        """Raise a locked, authorized payment's amount from ``from_amount`` (as read) to ``to_amount``."""
        ...

    def next_event_sequence(self, payment_id: str) -> int:
        """The number of the payment's next transaction-log event (1, 2, ...), taken for this transaction."""
        ...

    def insert_action(self, action: PaymentAction) -> None:
        """Record a capture or cancel about to be asked of the acquirer; the key it was asked with (claimed in
        this transaction) is bound to its payment."""
        ...

    def delete_action(self, payment_id: str) -> None:
        """The acquirer answered: the action is done (its outcome is on the payment and in the log)."""
        ...

    def record_action_failure(self, payment_id: str, retry_after_s: float) -> None:
        """Count an attempt at the payment's action that got no answer; the job tries again after the backoff."""
        ...

    def insert_refund(self, refund: Refund) -> None:
        """Record a refund about to be asked of the acquirer (status pending); the key it was asked with
        (claimed in this transaction) is bound to it and its payment."""
        ...

    def lock_payment_and_refund(self, payment_id: str, refund_id: str) -> tuple[Payment | None, Refund | None]:
        """``lock_payment``, and the payment's refund ``refund_id`` locked after it (None when either is not
        found), both until this transaction ends."""
        ...

    def update_refund(self, refund: Refund, *, from_status: RefundStatus) -> None:
        """Write a locked refund's status, failure code and ``updated_at``, the move checked as update_payment's."""
        ...

    def record_refund_failure(self, refund_id: str, retry_after_s: float) -> None:
        """Count an attempt at the refund that got no answer; the job tries again after the backoff."""
        ...

    def lock_payment_and_pending_refunds(
        self, payment_id: str, merchant_id: str | None = None
    ) -> tuple[Payment | None, int]:
        """``lock_payment``, and the minor units of the payment's refunds still pending (reserved against what is
        left to refund), summed under that lock (0 when the payment is not found)."""
        ...

    def record_acquirer_failure(self, payment_id: str, retry_after_s: float) -> None:
        """Count an attempt that got no answer from the acquirer; the job tries again after the backoff."""
        ...

    def due_again(self, payment_id: str, after_s: float) -> None:
        """A payment waiting for its cardholder (``requires_action``): the job asks the acquirer about it again
        after ``after_s``."""
        ...

    def bind_idempotency_key(self, merchant_id: str, key: str, payment_id: str) -> None:
        """Bind a claimed key to the payment it is about before its answer is stored (a retry finds it)."""
        ...

    def insert_attempt(self, attempt: PaymentAttempt) -> None:
        """Record the payment's first attempt with the payment itself (sent after this transaction commits)."""
        ...

    def finish_attempt(self, attempt_id: str, outcome: str, decline_code: str | None, latency_ms: int) -> None:
        """Write what the acquirer answered to the attempt (once: a finished attempt is left as it is)."""
        ...

    def settle_attempt(self, attempt_id: str, outcome: str, decline_code: str | None) -> None:
        """The cardholder's answer, on an attempt the acquirer answered ``requires_action`` (3-D Secure)."""
        ...

    def stored_response(self, merchant_id: str, key: str) -> StoredResponse | None:
        """The response recorded under a key, if any."""
        ...

    def add_event(self, event: OutboxEvent) -> None:
        """Queue a transaction-log event for delivery after commit."""
        ...

    def complete_idempotency_key(
        self, merchant_id: str, key: str, response: StoredResponse, payment_id: str | None
    ) -> None:
        """Record the response a claimed key answered with (and its payment; None for a webhook endpoint)."""
        ...

    def lease_outbox(self, payment_id: str, *, limit: int, lease_s: float) -> LeasedOutbox:
        """Lease the payment's due events, this transaction's own among them, as ``claim_outbox`` would, in
        this transaction: they are the caller's when it commits (others skip them until the lease ends), with
        no transaction of their own. Call it last; read the batch after commit."""
        ...


class LeasedOutbox(Protocol):
    """Events a committed transaction leased (``Transaction.lease_outbox``)."""

    def batch(self) -> AbstractContextManager[OutboxBatch]:
        """The leased events as a batch, the unmarked ones given back when the block ends."""
        ...


class OutboxBatch(Protocol):
    """Undelivered events that were due, claimed by one deliverer for a lease, as a queue's visibility
    timeout: other deliverers skip them until the lease ends. No transaction stays open while the events
    are put (an open writing transaction would hold back the events feed of every merchant: see
    ``list_events``). Each mark is committed as it is made; events left unmarked when the batch ends are
    due again at once, and those of a deliverer that died are due again when its lease ends."""

    events: list[OutboxEvent]

    def mark_delivered(self, event_id: int) -> None:
        """The event's object is in S3."""
        ...

    def mark_failed(self, event_id: int, error: str, *, retry_after_s: float | None) -> None:
        """Delivery failed: record it, and retry no sooner than ``retry_after_s`` (None: dead-letter it)."""
        ...


class PaymentStore(Protocol):
    """Where payments, idempotency keys and the transaction-log outbox live."""

    def transaction(self) -> AbstractContextManager[Transaction]:
        """One transaction: commit on normal exit, roll back on exception."""
        ...

    def get_payment(self, payment_id: str, merchant_id: str) -> Payment | None:
        """The payment with this id if it is this merchant's, else None (another merchant's is not found)."""
        ...

    def get_refund(self, refund_id: str, merchant_id: str) -> Refund | None:
        """The refund with this id if it is this merchant's, else None."""
        ...

    def get_action(self, payment_id: str) -> PaymentAction | None:
        """The payment's capture or cancel still waiting for the acquirer, if any."""
        ...

    def next_attempt(self, attempt_id: str, payment_id: str, connector: str) -> PaymentAttempt | None:
        """Record another attempt of a processing payment at ``connector`` before it is sent, carrying the
        reference an earlier attempt there remembered; None when the payment is no longer processing."""
        ...

    def remember_reference(self, attempt: PaymentAttempt, reference: str) -> str:
        """Keep the acquirer's reference on the attempt, unless another attempt of the payment at the same
        connector kept one first: the reference kept (the one to go on with)."""
        ...

    def last_attempt(self, payment_id: str) -> PaymentAttempt | None:
        """The payment's latest attempt (where the next one goes: the same acquirer unless it refused)."""
        ...

    def approved_connector(self, payment_id: str) -> str | None:
        """The connector that authorized the payment (its follow-ups go there)."""
        ...

    def merchant_connectors(self, merchant_id: str) -> list[MerchantConnector]:
        """The merchant's configured connectors, priority 1 first."""
        ...

    def get_payment_with_attempts(
        self, payment_id: str, merchant_id: str
    ) -> tuple[Payment, list[PaymentAttempt]] | None:
        """:meth:`get_payment` with the payment's attempts, oldest first (one round trip)."""
        ...

    def list_payments(self, merchant_id: str, page: PageRequest, *, status: str | None = None) -> Page[Payment]:
        """The merchant's payments, newest first (created_at, then id); CursorNotFound for a foreign cursor."""
        ...

    def list_refunds(self, merchant_id: str, payment_id: str, page: PageRequest) -> Page[Refund]:
        """The payment's refunds, newest first."""
        ...

    def get_event(self, merchant_id: str, event_id: str) -> FeedEvent | None:
        """The merchant's event (another merchant's is None, as an unknown one)."""
        ...

    def list_events(self, merchant_id: str, page: PageRequest) -> Page[FeedEvent]:
        """The merchant's transaction-log events, newest first, only of transactions that can no longer
        be overtaken by one still running (see migration 0007)."""
        ...

    def due_actions(self, *, limit: int, older_than_s: float) -> list[PaymentAction]:
        """Captures and cancels waiting for the acquirer, asked longer ago than ``older_than_s`` and due."""
        ...

    def pending_refunds(self, *, limit: int, older_than_s: float) -> list[Refund]:
        """Refunds waiting for the acquirer, created longer ago than ``older_than_s`` and due."""
        ...

    def expired_authorizations(self, *, limit: int, older_than_s: float) -> list[Payment]:
        """Payments authorized (``requires_capture``) longer ago than ``older_than_s`` with no action waiting."""
        ...

    def processing_payments(self, *, limit: int, older_than_s: float) -> list[Payment]:
        """Payments still processing whose last change is older than ``older_than_s`` and whose next
        resolution attempt is due, oldest first."""
        ...

    def keys_expiring_within(self, window_s: float) -> int:
        """Active API keys whose time ends within ``window_s`` (the processor's role sees this count only)."""
        ...

    def awaiting_authentication(self, *, limit: int) -> list[Payment]:
        """Payments waiting for their cardholder (``requires_action``) due to be asked about, oldest due first."""
        ...

    def claim_outbox(
        self, *, limit: int, lease_s: float, payment_id: str | None = None
    ) -> AbstractContextManager[OutboxBatch]:
        """Claim up to ``limit`` due, undelivered, not dead-lettered events (oldest first, or ``payment_id``'s)
        for ``lease_s`` seconds: long enough to put them all."""
        ...

    def outbox_health(self) -> OutboxHealth:
        """Counts and the age of the oldest waiting event."""
        ...

    def processing_health(self) -> ProcessingHealth:
        """How many payments, captures, cancels and refunds wait for the acquirer, and the oldest one's age."""
        ...

    def purge_idempotency_keys(self, *, older_than_hours: int) -> int:
        """Delete answered idempotency keys older than the given age (a key whose operation still waits for the
        acquirer stays: its client retries with it); return how many."""
        ...


class KeyStore(Protocol):
    """Where API keys live: only a keyed hash of each secret, never the secret."""

    def insert_key(self, key: ApiKey, secret_hash: bytes) -> None:
        """Store a new key."""
        ...

    def find_key(self, secret_hash: bytes) -> tuple[ApiKey, bytes] | None:
        """The key stored with this hash (revoked or not) and the stored hash, or None."""
        ...

    def list_keys(self, merchant_id: str | None) -> list[ApiKey]:
        """Keys, newest first, of one merchant or of all."""
        ...

    def revoke_key(self, key_id: str, at: datetime) -> ApiKey | None:
        """Mark the key revoked at ``at`` unless it already is; the key as stored now, or None."""
        ...

    def get_key(self, key_id: str) -> ApiKey | None:
        """The key with this id, or None."""
        ...

    def roll_key(self, key_id: str, replaced_by: str, expires_at: datetime) -> ApiKey | None:
        """Name the key's replacement and end its life at ``expires_at``, unless it is revoked or rolled already
        (None then, as for an unknown id); the key as stored now."""
        ...

    def note_key_use(self, key_id: str, hour: datetime) -> None:
        """Keep ``hour`` as the key's last use, unless a later one is kept already."""
        ...

    def note_failed_authentication(self, address: str, window_s: int) -> tuple[int, datetime]:
        """Count one failed authentication from ``address`` in the fixed ``window_s``-second window now falls
        in: how many that window holds now, and when it ends."""
        ...
