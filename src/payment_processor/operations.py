"""What every operation on a payment shares (logic layer): its outcome, the idempotency fingerprint, the
answers for "not yours", "still waiting for the acquirer" and "database down", and the acquirer's backoff.

Every ``POST`` (create, capture, cancel, refund) follows one pattern: claim the Idempotency-Key and record
what is about to be asked of the acquirer in one transaction; ask; record the answer and the response under
the key in a second. A replay answers the recorded bytes; a retry of an operation still waiting asks the
acquirer again under the same acquirer key; the scheduled job does the same for operations left waiting.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from payment_processor.deadlines import Expired
from payment_processor.errors import ApiError, IdempotencyKeyInUse, IdempotencyKeyReused, ServiceUnavailable
from payment_processor.store.interfaces import (
    IdempotencyKeyBusy,
    IdempotencyRecord,
    StoredResponse,
    StoreUnavailable,
    Transaction,
)
from payment_processor.txlog import DeliveryReport

T = TypeVar("T")

#: The one answer for an unknown id and for another merchant's payment.
NO_SUCH_PAYMENT = "no such payment for this API key's merchant"
#: The scheduled job leaves an operation younger than this to the request that recorded it: that request is
#: still within its own time to finish it (the function timeout is 15 s). Finishing it anyway would be safe,
#: only wasteful: the acquirer call is idempotent and the row lock lets one answer through.
RESOLVE_AFTER_S = 30.0
#: Seconds a client is told to wait before retrying an operation still waiting for the acquirer.
PROCESSING_RETRY_AFTER_S = 2
MAX_ACQUIRER_BACKOFF_S = 300.0


@dataclass(frozen=True)
class Outcome:
    """The answer to a ``POST``: the stored response, whether it is a replay, and the object it is about."""

    response: StoredResponse
    replayed: bool
    payment_id: str | None
    delivery: DeliveryReport | None = None
    refund_id: str | None = None


class PaymentStateConflict(ApiError):
    """409: the payment is not in a state this operation applies to; ``status`` says which it is in."""

    status = 409
    code = "payment_state_conflict"

    def __init__(self, message: str, *, payment_status: str) -> None:
        super().__init__(message)
        self.payment_status = payment_status

    def body(self) -> dict[str, Any]:
        """The error envelope plus the payment's current status."""
        body = super().body()
        body["error"]["payment_status"] = self.payment_status
        return body


def fingerprint(route: str, material: dict[str, Any]) -> str:
    """SHA-256 over the route and the canonical request: equal for the same request however its JSON was
    spelled, and different for the same body sent to another route (a key reused across operations).

    The merchant is not part of it: idempotency keys are already scoped by the authenticated merchant.
    """
    canonical = json.dumps(material, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{route}\n{canonical}".encode()).hexdigest()


def acquirer_backoff_s(attempts: int) -> float:
    """Seconds before the job asks the acquirer again after the ``attempts``-th attempt without an answer."""
    return min(float(2**attempts), MAX_ACQUIRER_BACKOFF_S)


def still_processing(what: str, code: str = "payment_processing") -> ServiceUnavailable:
    """The 503 for an operation recorded but not yet answered by the acquirer: the same key finishes it."""
    return ServiceUnavailable(
        f"{what} is recorded and still processing (the acquirer has not answered yet); "
        "retry with the same Idempotency-Key to get its result",
        code=code,
        retry_after_s=PROCESSING_RETRY_AFTER_S,
    )


def unavailable(exc: StoreUnavailable) -> ServiceUnavailable:
    """The client-facing 503 for a database outage."""
    del exc  # the detail goes to the log, not to the client
    return ServiceUnavailable(
        "the payment database is unreachable; retry with the same Idempotency-Key",
        code="database_unavailable",
    )


def ask_again(waiting: Iterable[T], perform: Callable[[T, Expired], object], expired: Expired) -> tuple[int, int]:
    """The job's pass over operations left waiting for the acquirer: ``perform`` each (ask again under its own
    acquirer key and apply the answer) until ``expired``; (answered, still waiting). No answer yet (503), or a
    request applying one right now (the row is locked), leaves it for the next run."""
    answered = left = 0
    for operation in waiting:
        if expired():
            break
        try:
            perform(operation, expired)
            answered += 1
        except (ServiceUnavailable, IdempotencyKeyBusy):
            left += 1
    return answered, left


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
    except StoreUnavailable as exc:
        raise unavailable(exc) from None
