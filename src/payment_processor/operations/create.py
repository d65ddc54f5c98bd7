"""``POST /payments``: take a payment (logic layer).

Recorded as ``processing`` with its first event before the acquirer hears of it; the payment id is the
acquirer's idempotency key, so one charge per recorded payment, whoever asks. The answer moves it once to
``succeeded`` (captured now), ``requires_capture`` (``capture_method: manual``), ``declined``, ``failed``, or
``requires_action`` (the issuer wants 3-D Secure: :mod:`.confirm` settles it later).
The job gives up on one the acquirer never answered (``failed``, ``acquirer_unavailable``) after
:data:`MAX_ACQUIRER_ATTEMPTS` attempts and :data:`GIVE_UP_AFTER_S`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from payment_processor import payment as payments
from payment_processor.connectors.base import AuthorizeRequest, Connector, UnknownPaymentMethod
from payment_processor.connectors.directory import next_after
from payment_processor.connectors.outcomes import Approved, Declined, Refused, RequiresAction
from payment_processor.connectors.unconfigured import NoConnectorConfigured
from payment_processor.encoding import compact_json
from payment_processor.errors import ApiError, ServiceUnavailable, ValidationFailed
from payment_processor.operations.driver import (
    Applied,
    Context,
    GiveUp,
    NoAnswer,
    Operation,
    Pending,
    fingerprint,
    recorded_answer,
)
from payment_processor.payment import Payment, PaymentAttempt
from payment_processor.states import PaymentStatus
from payment_processor.store.interfaces import IdempotencyRecord, PaymentStore, StoredResponse, Transaction
from payment_processor.txlog import payment_event

if TYPE_CHECKING:
    # Annotations only: validation builds pydantic models at import (~0.2 s of a cold start); the API layer
    # imports it on the first request that has a body to parse.
    from payment_processor.validation import PaymentRequest

ROUTE = "POST /payments"
#: A failover starts only with at least this much of the acquirer's time left.
FAILOVER_MIN_S = 1.0
#: The job gives up on a payment the acquirer never answered once both hold (see driver.GiveUp).
MAX_ACQUIRER_ATTEMPTS = 10
GIVE_UP_AFTER_S = 1800.0
#: How often the job asks the acquirer whether a payment's cardholder has authenticated (3-D Secure).
AUTHENTICATION_POLL_S = 300.0
#: The most of an acquirer's ``next_action`` kept whole (JSON characters); a larger one keeps its ``type`` only,
#: so an acquirer's answer can never make a payment unwritable (the column holds 16 KiB).
MAX_NEXT_ACTION_CHARS = 8192


@dataclass(frozen=True)
class Finished:
    """What one attempt got, for its row: the outcome's name, our decline code, how long the acquirer took."""

    attempt_id: str
    outcome: str
    decline_code: str | None
    latency_ms: int

    def write(self, tx: Transaction) -> None:
        tx.finish_attempt(self.attempt_id, self.outcome, self.decline_code, self.latency_ms)


@dataclass(frozen=True)
class Settled:
    """The cardholder's answer, on the attempt the acquirer answered ``requires_action``."""

    attempt_id: str
    outcome: str
    decline_code: str | None

    def write(self, tx: Transaction) -> None:
        tx.settle_attempt(self.attempt_id, self.outcome, self.decline_code)


@dataclass(frozen=True)
class Settlement:
    """The acquirer's answer to an authorization (approved, declined or requires action), or a definite failure
    to get one (``failure_code``), and the attempt that got it (None when the job gave up)."""

    outcome: Approved | Declined | RequiresAction | None = None
    failure_code: str | None = None
    attempt: Finished | Settled | None = None


#: A retry or the job found the payment settled by another between reading it and sending: nothing is sent.
SETTLED_MEANWHILE = Settlement()


class AttemptJournal:
    """The connector's journal for one attempt: its row in ``payment_attempts``."""

    def __init__(self, store: PaymentStore, attempt: PaymentAttempt) -> None:
        self._store = store
        self._attempt = attempt
        self.reference = attempt.reference

    def remember(self, reference: str) -> str:
        self.reference = self._store.remember_reference(self._attempt, reference)
        return self.reference


def request_fingerprint_of(request: PaymentRequest) -> str:
    """The create request's idempotency fingerprint (see driver.fingerprint)."""
    return fingerprint(ROUTE, request.fingerprint_material())


class CreatePayment(Operation["PaymentRequest", Payment, Settlement]):
    """Authorize (and, unless ``manual``, capture) a new payment."""

    def __init__(self, context: Context, new_id: Callable[[], str] = payments.new_payment_id) -> None:
        super().__init__(context)
        self._new_id = new_id

    @property
    def give_up(self) -> GiveUp:  # type: ignore[override]
        # Read at each pass, so an operator's (or a test's) setting of the module's bounds applies at once.
        return GiveUp(MAX_ACQUIRER_ATTEMPTS, GIVE_UP_AFTER_S)

    def route(self, request: PaymentRequest) -> str:
        return ROUTE

    def material(self, request: PaymentRequest) -> dict[str, Any]:
        return request.fingerprint_material()

    def refusal(self, merchant_id: str, request: PaymentRequest) -> ApiError | None:
        # A token the acquirer will never take records nothing; nor does a merchant without an acquirer.
        try:
            self.context.connectors_for(merchant_id)[0].check_payment_method(request.payment_method)
        except NoConnectorConfigured:
            return ServiceUnavailable(
                "no acquirer is configured for this merchant in this deployment, so no payment can be taken; "
                "nothing was recorded: ask the platform's operator to configure one, then retry",
                code="no_connector",
                retry_after_s=60,
            )
        except UnknownPaymentMethod:
            return ValidationFailed(
                "payment_method is not a token the acquirer knows; see the documented test tokens",
                code="payment_method_unknown",
                field="payment_method",
            )
        return None

    def record(self, tx: Transaction, merchant_id: str, key: str, request: PaymentRequest) -> Pending[Payment]:
        now = self.context.clock()
        payment = Payment(
            id=self._new_id(),
            merchant_id=merchant_id,
            amount=request.amount,
            currency=request.currency,
            status=PaymentStatus.PROCESSING,
            payment_method=request.payment_method,
            created_at=now,
            updated_at=now,
            description=request.description,
            customer_id=request.customer_id,
            metadata=dict(request.metadata or {}),
            idempotency_key=key,
            capture_method=request.capture_method,
        )
        tx.insert_payment(payment)
        tx.add_event(payment_event(payment, tx.next_event_sequence(payment.id)))
        # Its first attempt is recorded with it: one statement more in the pipeline, no round trip.
        first = self.context.connectors_for(merchant_id)[0]
        tx.insert_attempt(PaymentAttempt(first_attempt_id(payment.id), payment.id, first.name, now))
        return Pending(payment, payment)

    def resume(self, merchant_id: str, key: str, previous: IdempotencyRecord) -> Pending[Payment]:
        if previous.payment_id is None:  # pragma: no cover - a claim is bound in its own transaction
            raise RuntimeError("an idempotency key was committed without its payment")
        payment = self.context.store.get_payment(previous.payment_id, merchant_id)
        if payment is None:  # pragma: no cover - the key's foreign key keeps the payment
            raise RuntimeError("an idempotency key points at a missing payment")
        return Pending(payment)

    def answered(self, pending: Pending[Payment]) -> StoredResponse | None:
        payment = pending.record
        if not payment.is_final:
            return None
        with self.context.store.transaction() as tx:
            return _final_response(tx, payment)

    def describe(self, record: Payment) -> str:
        return f"the payment {record.id}"

    def ask(self, pending: Pending[Payment], timeout_s: float) -> Settlement:
        payment = pending.record
        chain = self.context.connectors_for(payment.merchant_id)
        store = self.context.store
        if pending.payment is not None:  # recorded by this request, with its first attempt
            connector = chain[0]
            first = PaymentAttempt(first_attempt_id(payment.id), payment.id, connector.name, payment.created_at)
            attempt: PaymentAttempt | None = first
        else:  # a retry or the job: another attempt, recorded before it is sent
            connector = _next_connector(chain, store.last_attempt(payment.id), self.context, payment.merchant_id)
            attempt = store.next_attempt(payments.new_attempt_id(), payment.id, connector.name)
        stop_at = time.monotonic() + timeout_s
        while True:
            if attempt is None:
                return SETTLED_MEANWHILE  # apply finds it final and answers what was recorded
            settlement = self._send(payment, connector, attempt, max(0.0, stop_at - time.monotonic()))
            after = next_after(chain, connector.name)
            refused = settlement.attempt is not None and settlement.attempt.outcome == Refused.outcome
            if not (refused and settlement.outcome is None and settlement.failure_code is None):
                return settlement
            # Refused before processing: the merchant's next connector, at once, while there is time.
            if after is None or stop_at - time.monotonic() < FAILOVER_MIN_S:
                assert settlement.attempt is not None
                raise NoAnswer("refused by every connector tried", write=settlement.attempt.write)
            with store.transaction() as tx:
                assert settlement.attempt is not None
                settlement.attempt.write(tx)
            connector = after
            attempt = store.next_attempt(payments.new_attempt_id(), payment.id, connector.name)

    def _send(self, payment: Payment, connector: Connector, attempt: PaymentAttempt, timeout_s: float) -> Settlement:
        """One attempt at one acquirer: its outcome as a settlement (refused and unknown carry no outcome)."""
        request = authorize_request(payment)
        started = time.monotonic()
        journal = AttemptJournal(self.context.store, attempt)
        try:
            outcome = connector.authorize(request, journal, timeout_s=timeout_s)
        except UnknownPaymentMethod:
            # Checked before recording, so only a token withdrawn since: a definite refusal, nothing charged.
            refused = Finished(attempt.id, Declined.outcome, None, _ms_since(started))
            return Settlement(failure_code="payment_method_unknown", attempt=refused)
        finished = Finished(
            attempt.id, outcome.outcome, outcome.code if isinstance(outcome, Declined) else None, _ms_since(started)
        )
        if isinstance(outcome, RequiresAction) and journal.reference is None:
            # The confirm and the job find the authorization waiting for its cardholder by this reference.
            journal.remember(outcome.reference)
        if isinstance(outcome, Approved | Declined | RequiresAction):
            return Settlement(outcome, attempt=finished)
        if isinstance(outcome, Refused):
            return Settlement(attempt=finished)
        raise NoAnswer(outcome.reason, write=finished.write)

    def no_answer(self, tx: Transaction, record: Payment, retry_after_s: float) -> None:
        tx.record_acquirer_failure(record.id, retry_after_s)

    def apply(self, tx: Transaction, record: Payment, answer: Settlement) -> Applied:
        # A concurrent settlement waits on the row lock, then finds the payment final and answers what it recorded.
        current = tx.lock_payment(record.id)
        if current is None:  # pragma: no cover - payments are never deleted
            raise RuntimeError(f"payment {record.id} vanished")
        # The attempt's outcome is kept either way; written after the lock (as confirm does), it goes in one
        # statement with the settlement.
        if answer.attempt is not None:
            answer.attempt.write(tx)
        if current.is_final:
            return Applied(_final_response(tx, current), now=False)
        if answer is SETTLED_MEANWHILE:  # pragma: no cover - next_attempt found it final, and payments stay final
            raise RuntimeError(f"payment {record.id} was settled and is processing again")
        return Applied(write_settlement(tx, current, answer, self.context.clock()))

    def payment_id(self, record: Payment) -> str:
        return record.id

    def recorded_at(self, record: Payment) -> datetime:
        return record.created_at

    def abandoned(self, record: Payment) -> Settlement:
        return Settlement(failure_code="acquirer_unavailable")


_UNAUTHORIZED = frozenset({PaymentStatus.DECLINED, PaymentStatus.FAILED})


def write_settlement(
    tx: Transaction, current: Payment, answer: Settlement, now: datetime, *, created: bool = True
) -> StoredResponse:
    """Move ``current`` (locked, ``processing`` or ``requires_action``) where the acquirer's answer takes it, with
    its event; the response it makes. A payment that waits for its cardholder is due for the job's look."""
    outcome, failure_code = answer.outcome, answer.failure_code
    if failure_code is not None or outcome is None:
        status = PaymentStatus.FAILED
    elif isinstance(outcome, Declined):
        status = PaymentStatus.DECLINED
    elif isinstance(outcome, RequiresAction):
        status = PaymentStatus.REQUIRES_ACTION
    else:
        # Authorized: captured now (automatic), or held for a capture or cancel (manual).
        manual = current.capture_method == payments.MANUAL
        status = PaymentStatus.REQUIRES_CAPTURE if manual else PaymentStatus.SUCCEEDED
    final = replace(
        current,
        status=status,
        updated_at=now,
        failure_code=failure_code,
        authorization_code=outcome.reference if isinstance(outcome, Approved) else None,
        decline_code=outcome.code if isinstance(outcome, Declined) else None,
        amount_captured=current.amount if status == PaymentStatus.SUCCEEDED else 0,
        next_action=next_action_of(outcome) if isinstance(outcome, RequiresAction) else None,
    )
    tx.update_payment(final, from_status=current.status)
    if status == PaymentStatus.REQUIRES_ACTION:
        tx.due_again(final.id, AUTHENTICATION_POLL_S)
    tx.add_event(payment_event(final, tx.next_event_sequence(final.id)))
    return payment_response(final, created=created)


def next_action_of(outcome: RequiresAction) -> dict[str, Any]:
    """The acquirer's ``next_action`` as the payment keeps it: whole, unless it is over MAX_NEXT_ACTION_CHARS."""
    given = dict(outcome.next_action)
    if len(compact_json(given)) <= MAX_NEXT_ACTION_CHARS:
        return given
    kind = given.get("type")
    return {"type": kind if isinstance(kind, str) and len(kind) <= 64 else "unknown"}


def payment_response(payment: Payment, *, created: bool = True) -> StoredResponse:
    """The payment as an answer about its authorization: 201 (200 when the request did not create it), 202
    (waiting for its cardholder) or 402."""
    status = _status_code(payment)
    return StoredResponse(200 if status == 201 and not created else status, compact_json(_response_body(payment)))


def _next_connector(
    chain: list[Connector], last: PaymentAttempt | None, context: Context, merchant_id: str
) -> Connector:
    """Where a payment's next attempt goes: the same acquirer as its last one, unless that one refused (nothing
    was processed); then the merchant's next connector, or its first again after the last. An unknown outcome
    never moves a payment elsewhere: the acquirer that may have processed it is the one asked."""
    if last is None:
        return chain[0]
    if last.outcome != Refused.outcome:
        return context.connector_named(merchant_id, last.connector)
    return next_after(chain, last.connector) or chain[0]


def authorize_request(payment: Payment) -> AuthorizeRequest:
    """The payment's authorization as every attempt and status query sends it: under the payment's id."""
    return AuthorizeRequest(
        key=payment.id,
        payment_id=payment.id,
        amount=payment.amount,
        currency=payment.currency,
        payment_method=payment.payment_method,
        capture=payment.capture_method != payments.MANUAL,
    )


def first_attempt_id(payment_id: str) -> str:
    """The first attempt's id, made from its payment's: the request that records the payment sends it without
    reading anything back."""
    return "att_" + payment_id.removeprefix("pay_")


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _final_response(tx: Transaction, payment: Payment) -> StoredResponse:
    """What a final payment answered: the bytes recorded under its key (rebuilt only if the key was purged)."""
    return recorded_answer(tx, payment, lambda: payment_response(payment))


def _status_code(payment: Payment) -> int:
    """201 for an authorized payment (whatever became of it since); 202 for one waiting for its cardholder
    (``next_action``: nothing has moved yet); 402 (payment required) for one declined or failed."""
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        return 202
    return 402 if payment.status in _UNAUTHORIZED else 201


def _response_body(payment: Payment) -> dict[str, Any]:
    body = payment.resource()
    if payment.status == PaymentStatus.FAILED:
        body["error"] = {
            "code": "payment_failed",
            "message": f"the payment failed ({payment.failure_code}); use a new Idempotency-Key to try again",
            "failure_code": payment.failure_code,
            "payment_id": payment.id,
        }
    if payment.status == PaymentStatus.DECLINED:
        # A decline is a 402 carrying the recorded payment plus the error envelope every error has.
        body["error"] = {
            "code": "card_declined",
            "message": f"the card was declined ({payment.decline_code})",
            "decline_code": payment.decline_code,
            "payment_id": payment.id,
        }
    return body
