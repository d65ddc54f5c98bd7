"""The Stripe connector: PaymentIntents and Refunds through the official ``stripe`` library (logic layer).

**Authorize** is three steps, so that money moves only once whatever the network or Stripe does:

1. create the PaymentIntent unconfirmed (``Idempotency-Key: <key>-create``): no money moves, so any failure
   here is :class:`Refused` (safe to try again or elsewhere);
2. remember its ``pi_…`` id in the journal (our database) before anything can charge;
3. confirm it (``Idempotency-Key: <key>-confirm``).

Asked again, the connector finds the remembered PaymentIntent and reads its status (the status query),
confirming it only if it was never confirmed. A Stripe-compatible server that ignores ``Idempotency-Key``
(localstripe does) therefore still charges once, as Stripe itself does.

**Follow-ups** act on the remembered PaymentIntent: capture with ``amount_to_capture``, cancel,
``increment_authorization``, and refunds by ``payment_intent``. A follow-up asked again is safe by the
PaymentIntent's state (a capture of a captured intent answers its capture), and a refund first looks for
its own earlier refund (``metadata.refund_key``) before creating one.

**Outcomes.** A connection that was never made (refused, DNS, connect timeout) or TLS that failed before
the request left is :class:`Refused`; an explicit not-processed answer (400/401/403/404/409/429 other than
a card decline) is :class:`Refused` too; a read timeout or a 5xx after sending is :class:`Unknown`. A card
decline (402, or a PaymentIntent back in ``requires_payment_method``) is :class:`Declined` with Stripe's
``decline_code`` (else its ``code``) mapped by :data:`DECLINE_CODES`.

**Deviations of localstripe 1.15.10** (what the tests start): it ignores ``Idempotency-Key`` (the three
steps above are why that cannot charge twice); it has no ``decline_code`` (a declined card is
``card_declined`` only, mapped to ``generic_decline``); it has no ``increment_authorization`` route (404,
mapped to ``increment_refused``); it refuses ``tok_…`` tokens on PaymentIntents (the tests use its
``pm_…`` ids); an unknown ``pm_…`` is 404 there, not Stripe's 400 ``resource_missing`` on ``payment_method``
(so refused, not declined); it captures a canceled intent that had an authorization (Stripe refuses:
``payment_intent_unexpected_state``); a partial capture shows the released rest as a refund of its own.
What it lacks (``decline_code``, ``increment_authorization``, ``tok_…`` tokens, honouring ``Idempotency-Key``,
Stripe's 400 for an unknown token) is tested against a server whose every answer is validated against Stripe's
published OpenAPI description, a pinned copy (tests/fakes/stripe_openapi,
tests/functional/test_stripe_spec_deviations.py). localstripe's 3-D Secure card answers ``requires_action``
with ``next_action.type`` ``use_stripe_sdk``, and its ``_authenticate`` endpoint plays the cardholder.

The secret key is given to the library and nowhere else: no outcome's reason, log line or error message
of this module carries it (Stripe's own messages are not passed on: some quote part of the key).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from payment_processor.connectors.base import Authorization, AuthorizeRequest, Journal, UnknownPaymentMethod
from payment_processor.connectors.outcomes import (
    Approved,
    AuthorizeOutcome,
    Declined,
    FollowUpOutcome,
    Refused,
    RequiresAction,
    Unknown,
)

if TYPE_CHECKING:  # the library takes ~0.4 s to import: only a merchant configured for Stripe pays for it
    import stripe as stripe_library

#: Stripe's API, unless the merchant's configuration names a Stripe-compatible server.
STRIPE_API_BASE = "https://api.stripe.com"
#: Tokens a merchant's front end obtains from Stripe: PaymentMethods and legacy card tokens.
TOKEN = re.compile(r"(pm|tok)_[A-Za-z0-9_]{1,200}")
#: The longest a connection may take to open, within the call's timeout.
CONNECT_TIMEOUT_S = 3.0

#: Stripe's ``decline_code`` (or, without one, its error ``code``) → ours. Anything else is
#: ``generic_decline``. Stripe's list: https://docs.stripe.com/declines/codes.
DECLINE_CODES: Mapping[str, str] = {
    "generic_decline": "generic_decline",
    "card_declined": "generic_decline",
    "do_not_honor": "generic_decline",
    "insufficient_funds": "insufficient_funds",
    "card_velocity_exceeded": "insufficient_funds",
    "withdrawal_count_limit_exceeded": "insufficient_funds",
    "expired_card": "expired_card",
    "incorrect_cvc": "incorrect_cvc",
    "invalid_cvc": "incorrect_cvc",
    "incorrect_number": "incorrect_number",
    "invalid_number": "incorrect_number",
    "invalid_expiry_month": "expired_card",
    "invalid_expiry_year": "expired_card",
    "processing_error": "processing_error",
    "lost_card": "lost_or_stolen_card",
    "stolen_card": "lost_or_stolen_card",
    "pickup_card": "lost_or_stolen_card",
    "fraudulent": "fraudulent",
    "merchant_blacklist": "fraudulent",
    "card_not_supported": "card_not_supported",
    "currency_not_supported": "currency_not_supported",
    "authentication_required": "authentication_required",
    "payment_intent_authentication_failure": "authentication_required",
}
#: A follow-up Stripe answers with a definite no: our code for each.
FOLLOW_UP_REFUSALS = {
    "capture": "capture_refused",
    "cancel": "cancel_refused",
    "increment": "increment_refused",
    "refund": "refund_refused",
}
#: Statuses an HTTP answer can have that say the request was not processed (not a card decline).
NOT_PROCESSED = frozenset({400, 401, 403, 404, 409, 429})
#: Those of them that say nothing about the request itself (the key, the account, the rate): a follow-up
#: refused so is asked again, not answered as the acquirer's no.
TRANSIENT = frozenset({401, 403, 429})

T = TypeVar("T")


def decline_code(stripe_code: str | None) -> str:
    """Ours for Stripe's decline (or error) code."""
    return DECLINE_CODES.get(stripe_code or "", "generic_decline")


class StripeConnector:
    """One merchant's Stripe account (its secret key), on Stripe or a Stripe-compatible ``api_base``."""

    name = "stripe"

    def __init__(self, secret_key: str, *, api_base: str = STRIPE_API_BASE) -> None:
        import stripe

        self._stripe = stripe
        self._http = _TimedHttpClient(stripe.RequestsClient)
        # No retries inside the library: a retry is ours to make, under the same key, when the deadline allows.
        self._client = stripe.StripeClient(
            secret_key, base_addresses={"api": api_base}, max_network_retries=0, http_client=self._http.client
        )
        self._intents = self._client.v1.payment_intents
        self._refunds = self._client.v1.refunds

    def check_payment_method(self, payment_method: str) -> None:
        """A Stripe token (``pm_…`` or ``tok_…``) passes; anything else (a card number above all) is refused."""
        if TOKEN.fullmatch(payment_method) is None:
            raise UnknownPaymentMethod("a Stripe payment method is a pm_… or tok_… token")

    def authorize(self, request: AuthorizeRequest, journal: Journal, *, timeout_s: float) -> AuthorizeOutcome:
        self.check_payment_method(request.payment_method)
        with self._http.timeout(timeout_s):
            reference = journal.reference
            intent: Any = None
            if reference is None:
                created = self._call(
                    lambda: self._intents.create(
                        params={
                            "amount": request.amount,
                            "currency": request.currency.lower(),
                            "payment_method": request.payment_method,
                            "capture_method": "automatic" if request.capture else "manual",
                            "metadata": {"payment_id": request.payment_id, "attempt_key": request.key},
                        },
                        options={"idempotency_key": f"{request.key}-create"},
                    )
                )
                if isinstance(created, _Failed):
                    # Nothing can have moved: an unconfirmed PaymentIntent charges nothing.
                    if created.card_decline is not None:
                        return _declined(created)
                    if created.param == "payment_method":
                        # A token Stripe does not know (or another account's): it will not work anywhere.
                        return Declined("payment_method_unknown", created.code)
                    return created.refused()
                reference = journal.remember(created.id)
                intent = created
            if intent is None or intent.id != reference:
                found = self._call(lambda: self._intents.retrieve(reference))
                if isinstance(found, _Failed):
                    return Unknown(f"the PaymentIntent could not be read ({found.reason})")
                intent = found
            if intent.status == "requires_confirmation":
                confirmed = self._call(
                    lambda: self._intents.confirm(reference, options={"idempotency_key": f"{request.key}-confirm"})
                )
                if isinstance(confirmed, _Failed):
                    if confirmed.card_decline is not None:
                        return _declined(confirmed)
                    if confirmed.not_sent or confirmed.transient:
                        return confirmed.refused()
                    if not confirmed.not_processed:
                        return confirmed.unknown()
                    # Refused as it stands: a concurrent try may have confirmed it a moment ago; the intent says.
                    again = self._call(lambda: self._intents.retrieve(reference))
                    if isinstance(again, _Failed) or again.status == "requires_confirmation":
                        return confirmed.refused()
                    confirmed = again
                intent = confirmed
            return _authorization_outcome(intent)

    def capture(self, authorization: Authorization, *, amount: int, key: str, timeout_s: float) -> FollowUpOutcome:
        return self._follow_up(
            "capture",
            authorization,
            timeout_s,
            lambda: self._intents.capture(
                authorization.reference, params={"amount_to_capture": amount}, options={"idempotency_key": key}
            ),
            done_if=lambda intent: intent.status == "succeeded",
        )

    def cancel(self, authorization: Authorization, *, key: str, timeout_s: float) -> FollowUpOutcome:
        return self._follow_up(
            "cancel",
            authorization,
            timeout_s,
            lambda: self._intents.cancel(authorization.reference, options={"idempotency_key": key}),
            done_if=lambda intent: intent.status == "canceled",
        )

    def increment_authorization(
        self, authorization: Authorization, *, amount: int, key: str, timeout_s: float
    ) -> FollowUpOutcome:
        return self._follow_up(
            "increment",
            authorization,
            timeout_s,
            lambda: self._intents.increment_authorization(
                authorization.reference, params={"amount": amount}, options={"idempotency_key": key}
            ),
            done_if=lambda intent: intent.amount == amount,
        )

    def refund(self, authorization: Authorization, *, amount: int, key: str, timeout_s: float) -> FollowUpOutcome:
        with self._http.timeout(timeout_s):
            # The status query: a refund this key already made (the answer may have been lost) is the answer.
            earlier = self._call(
                lambda: self._refunds.list(params={"payment_intent": authorization.reference, "limit": 100})
            )
            if isinstance(earlier, _Failed):
                return earlier.refused() if earlier.not_sent or earlier.not_processed else earlier.unknown()
            for refund in earlier.data:
                if refund.to_dict().get("metadata", {}).get("refund_key") == key:
                    return _refund_outcome(refund)
            made = self._call(
                lambda: self._refunds.create(
                    params={
                        "payment_intent": authorization.reference,
                        "amount": amount,
                        "metadata": {"refund_key": key},
                    },
                    options={"idempotency_key": key},
                )
            )
            if isinstance(made, _Failed):
                if made.not_processed or made.card_decline is not None:
                    return Declined(FOLLOW_UP_REFUSALS["refund"], made.code)
                return made.refused() if made.not_sent else made.unknown()
            return _refund_outcome(made)

    def _follow_up(
        self,
        kind: str,
        authorization: Authorization,
        timeout_s: float,
        send: Callable[[], Any],
        *,
        done_if: Callable[[Any], bool],
    ) -> FollowUpOutcome:
        with self._http.timeout(timeout_s):
            answer = self._call(send)
            if not isinstance(answer, _Failed):
                return Approved(authorization.reference)
            if answer.not_sent or answer.transient:
                return answer.refused()
            if answer.not_processed or answer.card_decline is not None:
                # Refused, or already done by an earlier try whose answer was lost: the intent says which.
                intent = self._call(lambda: self._intents.retrieve(authorization.reference))
                if not isinstance(intent, _Failed) and done_if(intent):
                    return Approved(authorization.reference)
                return Declined(FOLLOW_UP_REFUSALS[kind], answer.code)
            return answer.unknown()

    def _call(self, send: Callable[[], T]) -> T | _Failed:
        """``send()``'s answer, or what went wrong, classified; only a bug raises."""
        stripe = self._stripe
        try:
            return send()
        except stripe.APIConnectionError as exc:
            return _Failed(reason="no answer from Stripe", not_sent=_never_sent(exc))
        except stripe.CardError as exc:
            return _Failed(
                reason="card declined", status=exc.http_status, code=exc.code, card_decline=_stripe_decline(exc)
            )
        except stripe.StripeError as exc:
            status = exc.http_status
            param = getattr(exc, "param", None)
            return _Failed(reason=f"Stripe answered {status}", status=status, code=exc.code, param=param)


class _Failed:
    """A Stripe call that did not answer with its object: why, and what that says about processing."""

    def __init__(
        self,
        *,
        reason: str,
        not_sent: bool = False,
        status: int | None = None,
        code: str | None = None,
        card_decline: str | None = None,
        param: str | None = None,
    ) -> None:
        self.reason = f"{reason} ({code})" if code else reason
        self.not_sent = not_sent
        self.code = code
        self.card_decline = card_decline
        self.param = param
        self.not_processed = status in NOT_PROCESSED and card_decline is None
        self.transient = status in TRANSIENT

    def refused(self) -> Refused:
        return Refused(self.reason)

    def unknown(self) -> Unknown:
        return Unknown(self.reason)


def _declined(failed: _Failed) -> Declined:
    return Declined(decline_code(failed.card_decline), failed.card_decline)


def _stripe_decline(exc: Any) -> str:
    error = getattr(exc, "error", None)
    return getattr(error, "decline_code", None) or exc.code or "card_declined"


def _authorization_outcome(intent: Any) -> AuthorizeOutcome:
    """A PaymentIntent's status as an authorization's outcome."""
    status = intent.status
    if status in ("succeeded", "requires_capture"):
        return Approved(intent.id)
    if status == "requires_action":
        return RequiresAction(intent.id, intent.to_dict().get("next_action") or {})
    if status == "requires_payment_method":
        error = intent.to_dict().get("last_payment_error") or {}
        stripe_code = error.get("decline_code") or error.get("code")
        return Declined(decline_code(stripe_code), stripe_code)
    if status == "canceled":
        return Declined("processing_error", "canceled")
    return Unknown(f"the PaymentIntent is {status}")


def _refund_outcome(refund: Any) -> FollowUpOutcome:
    if refund.status in ("succeeded", "pending"):
        return Approved(refund.id)
    return Declined(FOLLOW_UP_REFUSALS["refund"], refund.status)


def _never_sent(exc: BaseException) -> bool:
    """True when the request cannot have reached Stripe: the connection or its TLS handshake failed (the
    request is written only after both), as opposed to a read that timed out or a connection that dropped."""
    import requests
    import urllib3.exceptions

    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
            return True
        if isinstance(cause, urllib3.exceptions.NewConnectionError | urllib3.exceptions.ConnectTimeoutError):
            return True
        if isinstance(cause, urllib3.exceptions.MaxRetryError) and cause.reason is not None:
            cause = cause.reason
            continue
        if isinstance(cause, requests.exceptions.ConnectionError) and cause.args:
            inner = cause.args[0]
            if isinstance(inner, BaseException) and id(inner) not in seen:
                cause = inner
                continue
        cause = cause.__cause__ or cause.__context__
    return False


class _TimedHttpClient:
    """The library's requests-based client with a timeout set per call (the function's remaining time)."""

    def __init__(self, client_class: type[stripe_library.RequestsClient]) -> None:
        self.client = client_class(timeout=(CONNECT_TIMEOUT_S, 10.0))

    @contextmanager
    def timeout(self, timeout_s: float) -> Iterator[None]:
        seconds = max(0.1, timeout_s)
        # A process serves one event at a time (Lambda), so setting the client's timeout for the call is safe.
        self.client._timeout = (min(CONNECT_TIMEOUT_S, seconds), seconds)
        yield
