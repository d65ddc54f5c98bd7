"""The one protocol every money-moving operation follows, and the job's half of it (logic layer).

:class:`Driver` owns the Idempotency-Key's whole life and the order of the steps; an :class:`Operation`
supplies only what differs: how its request is fingerprinted and validated, what it records, how it asks
the acquirer, and how it applies the answer. A failure mode handled here is handled for every operation:

- **claim**: a new key is claimed in the transaction that records the operation, so the two commit together
  or not at all; a refusal (404, 409, 422) rolls both back and keeps no key;
- **replay**: a key that has its answer replays the exact bytes first sent (``Idempotent-Replayed``);
- **in use**: a key another request holds waits for it, then replays its answer (409 after the lock timeout);
- **reused**: the same key with another request (body or route) is 422;
- **record → ask → apply once**: the acquirer is asked only after the record is committed, under the
  record's own acquirer idempotency key, with no transaction open; the answer is applied under the row lock,
  once (a concurrent applier finds it applied and answers what was recorded), with the exact response
  stored under the key in the same transaction;
- **no answer**: the attempt is counted and the record is due again after :func:`backoff_s`; the client gets
  503 and the same key, or the job (:meth:`Driver.ask_again`), asks again. An operation with a
  :class:`GiveUp` policy is given up on by the job once both its bounds are passed.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from payment_processor import backoff
from payment_processor import payment as payments
from payment_processor.connectors.base import Authorization, Connector
from payment_processor.connectors.directory import ConnectorDirectory, Unavailable
from payment_processor.connectors.outcomes import Approved, Declined, FollowUpOutcome
from payment_processor.deadlines import Expired, never, time_left_s
from payment_processor.errors import (
    ApiError,
    DatabaseUnavailable,
    IdempotencyKeyInUse,
    IdempotencyKeyReused,
    NotFound,
    ServiceUnavailable,
    StillProcessing,
)
from payment_processor.payment import Payment, utc_now
from payment_processor.store.interfaces import (
    CursorNotFound,
    IdempotencyKeyBusy,
    IdempotencyKeyTaken,
    IdempotencyRecord,
    LeasedOutbox,
    PaymentStore,
    StoredResponse,
    StoreUnavailable,
    Transaction,
)
from payment_processor.txlog import DeliveryReport


class Recorded(Protocol):
    """What every operation's record carries: its merchant, the key it was asked with (None when the job
    asked), and the attempts that got no answer."""

    @property
    def merchant_id(self) -> str: ...

    @property
    def idempotency_key(self) -> str | None: ...

    @property
    def acquirer_attempts(self) -> int: ...


Request = TypeVar("Request")
Record = TypeVar("Record", bound=Recorded)
Answer = TypeVar("Answer")
Found = TypeVar("Found")

#: The one answer for an unknown id and for another merchant's payment.
NO_SUCH_PAYMENT = "no such payment for this API key's merchant"
#: The scheduled job leaves an operation younger than this to the request that recorded it: that request is
#: still within its own time to finish it (the function timeout is 15 s). Finishing it anyway would be safe,
#: only wasteful: the acquirer call is idempotent and the row lock lets one answer through.
RESOLVE_AFTER_S = 30.0
#: The longest one acquirer call may take, however much of the function's time is left: an acquirer that
#: has not answered by then is asked again later under the same key (the function timeout is 15 s).
ACQUIRER_TIMEOUT_S = 10.0


class NoAnswer(Exception):
    """The acquirer's outcome does not settle the operation (refused: nothing happened; unknown: something may
    have): it stays recorded and is asked again, under the same key, by the same key's retry or by the job.
    ``write`` notes the outcome in the transaction that counts the attempt."""

    def __init__(self, reason: str, write: Callable[[Transaction], None] | None = None) -> None:
        super().__init__(reason)
        self.write = write


@dataclass
class Context:
    """What every operation works with: the store, the acquirer's connector, the clock (one per service)."""

    store: PaymentStore
    #: The deployment's default acquirer: for a merchant with no connector of its own (and every merchant
    #: when there is no directory).
    connector: Connector
    clock: Callable[[], datetime] = utc_now
    #: Merchants' own connectors (None: the default answers for everyone).
    directory: ConnectorDirectory | None = None

    def connectors_for(self, merchant_id: str) -> list[Connector]:
        """The merchant's connectors in the order they are tried."""
        configured = [] if self.directory is None else self.directory.for_merchant(merchant_id)
        return configured or [self.connector]

    def connector_named(self, merchant_id: str, name: str) -> Connector:
        """The merchant's connector of this name (the one that authorized a payment)."""
        if self.directory is not None:
            for connector in self.directory.for_merchant(merchant_id):
                if connector.name == name:
                    return connector
        if name == self.connector.name:
            return self.connector
        return Unavailable(name, "no longer configured for this merchant")


@dataclass(frozen=True)
class Outcome:
    """The answer to a ``POST``: the stored response, whether it is a replay, and the object it is about."""

    response: StoredResponse
    replayed: bool
    payment_id: str | None
    delivery: DeliveryReport | None = None
    refund_id: str | None = None


@dataclass(frozen=True)
class Pending(Generic[Record]):
    """A recorded operation on its way to the acquirer, with the payment as the recording transaction locked
    it and the connector that authorized it (None when resumed by a retry or the job: read again when needed)."""

    record: Record
    payment: Payment | None = field(default=None, compare=False)
    approved_by: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Applied:
    """What applying an answer gave: the response, and whether this transaction applied it (its response is
    then stored under the key) or found it applied already (the response is the one recorded then)."""

    response: StoredResponse
    now: bool = True


@dataclass(frozen=True)
class GiveUp:
    """When the job stops asking: once this many attempts got no answer and the record is this old. Both,
    because a client retrying every 2 s makes ten attempts in twenty seconds, and an outage that short must
    not fail its operations."""

    attempts: int
    after_s: float


class Operation(ABC, Generic[Request, Record, Answer]):
    """One money-moving operation's steps; the :class:`Driver` runs them in the protocol's order."""

    #: The 503's code while the acquirer has not answered.
    processing_code = "payment_processing"
    #: The job's give-up policy; None: the job asks until answered (the money has moved or not, and only the
    #: acquirer can say which; the age alarm calls an operator).
    give_up: GiveUp | None = None

    def __init__(self, context: Context) -> None:
        self.context = context

    def validate(self, request: Request) -> None:
        """Refuse a request that cannot be right before anything touches the database (an id of the wrong
        shape is 404 at once)."""

    @abstractmethod
    def route(self, request: Request) -> str:
        """The route the request was sent to, as the fingerprint names it (a key reused on another route is
        another request)."""

    @abstractmethod
    def material(self, request: Request) -> dict[str, Any]:
        """The request as canonical data: two requests are the same for idempotency iff these match."""

    def refusal(self, merchant_id: str, request: Request) -> ApiError | None:
        """A refusal known before any transaction (an acquirer's lookup must not hold a key's row lock);
        answered only for a new key: a replay still replays."""
        return None

    @abstractmethod
    def record(self, tx: Transaction, merchant_id: str, key: str, request: Request) -> Pending[Record]:
        """Validate under the payment's lock and record the operation, its events and the key's binding.
        Raise an ApiError to refuse: the claim rolls back with it."""

    @abstractmethod
    def resume(self, merchant_id: str, key: str, previous: IdempotencyRecord) -> Pending[Record] | None:
        """The operation an earlier request with this key recorded and did not finish; None if it has been
        answered since (by the job or a concurrent retry): the driver replays that."""

    def answered(self, pending: Pending[Record]) -> StoredResponse | None:
        """The response already recorded for this operation, if the acquirer's answer was applied."""
        return None

    @abstractmethod
    def describe(self, record: Record) -> str:
        """The operation as the 503 names it ("the refund re_…")."""

    @abstractmethod
    def ask(self, pending: Pending[Record], timeout_s: float) -> Answer:
        """Ask the acquirer, under the record's own acquirer idempotency key, for at most ``timeout_s``.
        NoAnswer: its outcome does not settle the operation."""

    @abstractmethod
    def no_answer(self, tx: Transaction, record: Record, retry_after_s: float) -> None:
        """Count an attempt that got no answer; the record is due again after ``retry_after_s``."""

    @abstractmethod
    def apply(self, tx: Transaction, record: Record, answer: Answer) -> Applied:
        """Apply the answer once, under the row lock, with its events; if it was applied already, the response
        recorded then (``Applied(..., now=False)``). The driver stores a new response under the key."""

    @abstractmethod
    def payment_id(self, record: Record) -> str:
        """The payment the operation is on."""

    def refund_id(self, record: Record) -> str | None:
        """The refund the operation made, if it made one."""
        return None

    def recorded_at(self, record: Record) -> datetime:
        """When the operation was recorded (its age is the give-up policy's second bound)."""
        raise NotImplementedError

    def abandoned(self, record: Record) -> Answer:
        """The answer the job applies when it gives up (only for an operation with a give-up policy)."""
        raise NotImplementedError


class AboutPayment(Protocol):
    """A request about an existing payment (its id is in the route)."""

    @property
    def payment_id(self) -> str: ...


AboutPaymentT = TypeVar("AboutPaymentT", bound=AboutPayment)


class OnPayment(Operation[AboutPaymentT, Record, "str | None"]):
    """An operation on an existing, authorized payment: ``POST /payments/{id}/<segment>``. The acquirer finds
    the authorization again by its code; its answer is None (done) or the code of a definite refusal."""

    #: The route's last segment (``capture``, ``cancel``, ``refunds``, ...).
    segment: str

    def validate(self, request: AboutPaymentT) -> None:
        if not payments.is_payment_id(request.payment_id):
            raise NotFound(NO_SUCH_PAYMENT)

    def route(self, request: AboutPaymentT) -> str:
        return f"POST /payments/{request.payment_id}/{self.segment}"

    @abstractmethod
    def call(
        self, connector: Connector, authorization: Authorization, record: Record, timeout_s: float
    ) -> FollowUpOutcome:
        """Ask the acquirer that authorized the payment about its authorization."""

    def ask(self, pending: Pending[Record], timeout_s: float) -> str | None:
        record = pending.record
        payment = pending.payment or self.context.store.get_payment(self.payment_id(record), record.merchant_id)
        if payment is None or payment.authorization_code is None:  # pragma: no cover - follow-ups need one
            raise RuntimeError(f"{self.describe(record)} has no authorized payment")
        authorization = Authorization(
            payment.authorization_code, payment.payment_method, payment.currency, payment.amount
        )
        connector = self.context.connector
        if self.context.directory is not None:
            # Read with the payment's lock when the record was made just now; otherwise asked for.
            name = pending.approved_by or self.context.store.approved_connector(payment.id)
            connector = self.context.connector_named(payment.merchant_id, name or connector.name)
        outcome = self.call(connector, authorization, record, timeout_s)
        if isinstance(outcome, Approved):
            return None
        if isinstance(outcome, Declined):
            return outcome.code
        raise NoAnswer(outcome.reason)


class Driver:
    """Runs operations through the protocol (requests) and asks again about those left waiting (the job).

    A request delivers its payment's events to the transaction log after its last commit: ``lease`` takes
    them in the transaction that applies the answer (no statement of their own), and ``deliver`` puts them.
    """

    def __init__(
        self,
        context: Context,
        deliver: Callable[[str, Expired, LeasedOutbox | None], DeliveryReport],
        lease: Callable[[Transaction, str], LeasedOutbox],
    ) -> None:
        self._context = context
        self._deliver = deliver
        self._lease = lease

    def run(
        self,
        operation: Operation[Request, Record, Answer],
        merchant_id: str,
        key: str,
        request: Request,
        *,
        expired: Expired = never,
        settle_by: Expired = never,
    ) -> Outcome:
        """One ``POST``: claim, record, ask, apply, answer; replay for a retry.

        ``settle_by`` says when the acquirer may no longer be asked (its answer could not be committed and
        returned in time: 503, and the record stays for the same key or the job); ``expired`` when no S3 put
        may start. ``merchant_id`` is the authenticated key's, never the request's.
        """
        operation.validate(request)
        request_fingerprint = fingerprint(operation.route(request), operation.material(request))
        store = self._context.store
        with answering_store_errors():
            # Before the transaction: a refusal may ask the acquirer's side (a merchant's connectors, a token
            # check), and must not hold the key's row lock while it does.
            refusal = operation.refusal(merchant_id, request)
            pending: Pending[Record] | None = None
            previous: IdempotencyRecord | None = None
            if refusal is None:
                # A new key, the common case: claimed by the first of the statements that record the operation,
                # with no wait of its own. A key that was another request's fails that transaction (perhaps only
                # at its COMMIT), which keeps nothing; it is then read as below.
                with suppress(IdempotencyKeyTaken):
                    with store.transaction() as tx:
                        tx.claim_new_idempotency_key(merchant_id, key, request_fingerprint)
                        recorded = operation.record(tx, merchant_id, key, request)
                    pending = recorded
            if pending is None:
                with store.transaction() as tx:
                    previous = claim(tx, merchant_id, key, request_fingerprint)
                    if previous is not None and previous.response is not None:
                        return Outcome(previous.response, True, previous.payment_id, refund_id=previous.refund_id)
                    if previous is None:
                        if refusal is not None:
                            raise refusal
                        pending = operation.record(tx, merchant_id, key, request)
            # Committed: from here on a crash leaves a record that the same key or the job finishes.
            if previous is not None:
                pending = operation.resume(merchant_id, key, previous)
                if pending is None:
                    return Outcome(self._recorded(merchant_id, key), True, previous.payment_id)
            assert pending is not None
            payment_id = operation.payment_id(pending.record)
            response, leased = self._settle(operation, pending, settle_by, lease_events_of=payment_id)
        return Outcome(
            response,
            replayed=previous is not None,
            payment_id=payment_id,
            delivery=self._deliver(payment_id, expired, leased),
            refund_id=operation.refund_id(pending.record),
        )

    def settle(
        self, operation: Operation[Request, Record, Answer], pending: Pending[Record], settle_by: Expired
    ) -> StoredResponse:
        """Ask the acquirer about a recorded operation and apply its answer; the stored response.

        Raises StillProcessing (503, retry with the same key) when there is no answer to apply: the acquirer
        is unreachable, or the deadline leaves no time to ask it.
        """
        return self._settle(operation, pending, settle_by)[0]

    def _settle(
        self,
        operation: Operation[Request, Record, Answer],
        pending: Pending[Record],
        settle_by: Expired,
        *,
        lease_events_of: str | None = None,
    ) -> tuple[StoredResponse, LeasedOutbox | None]:
        """:meth:`settle`, also leasing ``lease_events_of``'s events in the transaction that applies the answer
        (None when it was applied before)."""
        done = operation.answered(pending)
        if done is not None:
            return done, None
        record = pending.record
        if settle_by():
            raise StillProcessing(operation.describe(record), code=operation.processing_code)
        try:
            answer = operation.ask(pending, time_left_s(settle_by, at_most=ACQUIRER_TIMEOUT_S))
        except NoAnswer as exc:
            with self._context.store.transaction() as tx:
                operation.no_answer(tx, record, backoff.backoff_s(record.acquirer_attempts + 1))
                if exc.write is not None:
                    exc.write(tx)
            raise StillProcessing(operation.describe(record), code=operation.processing_code) from None
        with self._context.store.transaction() as tx:
            response = self._apply(tx, operation, record, answer)
            leased = None if lease_events_of is None else self._lease(tx, lease_events_of)
        return response, leased

    def ask_again(
        self,
        waiting: Iterable[Record],
        operation_for: Callable[[Record], Operation[Any, Record, Any]],
        expired: Expired,
    ) -> JobCounts:
        """The job's pass over operations left waiting for the acquirer: ask each again under its own acquirer
        key and apply the answer, or give up on it where its policy says so, until ``expired``. No answer yet
        (503), or a request applying one right now (the row is locked), leaves it for the next run."""
        answered = gave_up = left = 0
        for record in waiting:
            if expired():
                break
            operation = operation_for(record)
            try:
                if self._gives_up(operation, record):
                    with self._context.store.transaction() as tx:
                        self._apply(tx, operation, record, operation.abandoned(record))
                    gave_up += 1
                else:
                    self.settle(operation, Pending(record), expired)
                    answered += 1
            except (ServiceUnavailable, IdempotencyKeyBusy):
                left += 1
        return JobCounts(answered, gave_up, left)

    def _gives_up(self, operation: Operation[Any, Record, Any], record: Record) -> bool:
        policy = operation.give_up
        if policy is None or record.acquirer_attempts < policy.attempts:
            return False
        return (self._context.clock() - operation.recorded_at(record)).total_seconds() >= policy.after_s

    @staticmethod
    def _apply(
        tx: Transaction, operation: Operation[Any, Record, Answer], record: Record, answer: Answer
    ) -> StoredResponse:
        """Apply once, and keep the exact response under the key in the same transaction."""
        applied = operation.apply(tx, record, answer)
        if applied.now and record.idempotency_key is not None:
            tx.complete_idempotency_key(
                record.merchant_id, record.idempotency_key, applied.response, operation.payment_id(record)
            )
        return applied.response

    def _recorded(self, merchant_id: str, key: str) -> StoredResponse:
        with self._context.store.transaction() as tx:
            stored = tx.stored_response(merchant_id, key)
        if stored is None:  # pragma: no cover - a record is finished in the transaction that stores the answer
            raise RuntimeError("an operation was finished without storing its answer")
        return stored


@dataclass(frozen=True)
class JobCounts:
    """What one pass of :meth:`Driver.ask_again` did."""

    answered: int = 0
    gave_up: int = 0
    still_waiting: int = 0


def recorded_answer(tx: Transaction, record: Recorded, rebuilt: Callable[[], StoredResponse]) -> StoredResponse:
    """What an applied operation answered: the exact bytes stored under its key, or ``rebuilt()`` when it has
    no key (the job asked) or the key was purged since."""
    key = record.idempotency_key
    return (tx.stored_response(record.merchant_id, key) if key else None) or rebuilt()


def fingerprint(route: str, material: dict[str, Any]) -> str:
    """SHA-256 over the route and the canonical request: equal for the same request however its JSON was
    spelled, and different for the same body sent to another route (a key reused across operations).

    The merchant is not part of it: idempotency keys are already scoped by the authenticated merchant.
    """
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{route}\n{canonical}".encode()).hexdigest()


def claim(tx: Transaction, merchant_id: str, key: str, request_fingerprint: str) -> IdempotencyRecord | None:
    """Claim ``key`` for this request (None), or what an earlier request with it left; 422 when that was
    another request (another body, or another route)."""
    previous = tx.claim_idempotency_key(merchant_id, key, request_fingerprint)
    if previous is not None and previous.fingerprint != request_fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was already used with a different request (another body or another route); "
            "use a new key for a new request",
            field="Idempotency-Key",
        )
    return previous


@contextmanager
def answering_read_errors(no_such: str) -> Iterator[None]:
    """A read's store failures as the client gets them: a cursor that is not one of the merchant's objects is
    404 ``no_such`` (like an unknown id), a database outage 503."""
    try:
        yield
    except CursorNotFound:
        raise NotFound(no_such) from None
    except StoreUnavailable:
        raise DatabaseUnavailable() from None


def read_one(shaped: bool, no_such: str, lookup: Callable[[], Found | None]) -> Found:
    """One of the merchant's objects by id: 404 ``no_such`` for an id of the wrong shape (the database is not
    asked), an unknown one and another merchant's alike; a database outage 503."""
    if not shaped:
        raise NotFound(no_such)
    with answering_read_errors(no_such):
        found = lookup()
    if found is None:
        raise NotFound(no_such)
    return found


@contextmanager
def answering_store_errors() -> Iterator[None]:
    """The store's failures as the client gets them: a key another request still holds is 409 (retry
    shortly), a database outage 503 (retry with the same key)."""
    try:
        yield
    except IdempotencyKeyBusy:
        raise IdempotencyKeyInUse(
            "another request with this Idempotency-Key, or on this payment, is still being processed; retry shortly",
            field="Idempotency-Key",
        ) from None
    except StoreUnavailable:
        raise DatabaseUnavailable() from None  # the detail goes to the log, not to the client
