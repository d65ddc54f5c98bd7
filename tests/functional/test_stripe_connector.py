"""The Stripe connector against localstripe (a Stripe fake written by others) and against real faults: a port
nothing listens on, a black-holed socket, TLS that fails, a 5xx after the request was sent.

Money is counted on localstripe's side (its PaymentIntents and charges per payment), never from what the
connector says it did."""

from __future__ import annotations

import json
import socket
import ssl
import time

import pytest
import trustme

from payment_processor.connectors.base import Authorization, AuthorizeRequest, Forgetful
from payment_processor.connectors.outcomes import Approved, Declined, Refused, RequiresAction, Unknown
from payment_processor.connectors.stripe import StripeConnector
from tests.fakes.localstripe_server import DECLINED, SECRET_KEY, THREE_D_SECURE, VISA, LocalStripe
from tests.receivers import Answer, Received, black_hole, receiver


@pytest.fixture
def connector(stripe_fake: LocalStripe) -> StripeConnector:
    return StripeConnector(SECRET_KEY, api_base=stripe_fake.api_base)


_counter = iter(range(1, 1_000_000))


def request(token: str, *, capture: bool = True, amount: int = 1000) -> AuthorizeRequest:
    payment_id = f"pay_test{next(_counter):06d}"
    return AuthorizeRequest(
        key=payment_id, payment_id=payment_id, amount=amount, currency="EUR", payment_method=token, capture=capture
    )


class Remembering(Forgetful):
    """A journal that counts what it was asked to keep (and can refuse to keep it: a database outage)."""

    def __init__(self, *, fails: bool = False) -> None:
        super().__init__()
        self.fails = fails
        self.kept: list[str] = []

    def remember(self, reference: str) -> str:
        if self.fails:
            raise ConnectionError("the database is unreachable")
        self.kept.append(reference)
        return super().remember(reference)


def test_automatic_capture_charges_once_and_asking_again_finds_the_same_charge(
    connector: StripeConnector, stripe_fake: LocalStripe
) -> None:
    asked, journal = request(stripe_fake.card(VISA)), Remembering()
    first = connector.authorize(asked, journal, timeout_s=5)
    assert isinstance(first, Approved) and first.reference.startswith("pi_")
    assert journal.kept == [first.reference], "the PaymentIntent was remembered before it was confirmed"
    # Asked again (a retry, the job after a crash): localstripe ignores Idempotency-Key, so only the journal
    # keeps this from being a second charge.
    assert connector.authorize(asked, journal, timeout_s=5) == first
    assert len(stripe_fake.intents(asked.payment_id)) == 1 and len(stripe_fake.charges(asked.payment_id)) == 1
    intent = stripe_fake.intents(asked.payment_id)[0]
    assert (intent["status"], intent["amount"], intent["currency"]) == ("succeeded", 1000, "eur")


def test_manual_capture_partial_then_refunds_each_once(connector: StripeConnector, stripe_fake: LocalStripe) -> None:
    token = stripe_fake.card(VISA)
    asked, journal = request(token, capture=False, amount=900), Forgetful()
    approved = connector.authorize(asked, journal, timeout_s=5)
    assert isinstance(approved, Approved)
    assert stripe_fake.intents(asked.payment_id)[0]["status"] == "requires_capture"
    authorization = Authorization(approved.reference, token, "EUR", 900)
    assert connector.capture(authorization, amount=600, key="act_capture1", timeout_s=5) == Approved(approved.reference)
    charge = stripe_fake.intents(asked.payment_id)[0]["latest_charge"]
    # localstripe shows the released rest as refunded on the charge.
    assert (charge["captured"], charge["amount"] - charge["amount_refunded"]) == (True, 600)
    # The capture asked again (its answer lost): the intent is captured, so it answers done, moving nothing.
    assert connector.capture(authorization, amount=600, key="act_capture1", timeout_s=5) == Approved(approved.reference)
    refund = connector.refund(authorization, amount=250, key="re_test1", timeout_s=5)
    assert isinstance(refund, Approved) and refund.reference.startswith("re_")
    # The refund asked again finds its own refund instead of making a second one.
    assert connector.refund(authorization, amount=250, key="re_test1", timeout_s=5) == refund

    def ours() -> list[tuple[str, int]]:
        # localstripe also lists the released 300 of the partial capture as a refund of its own (no key).
        listed = stripe_fake.get(f"/v1/refunds?payment_intent={approved.reference}")["data"]
        return sorted((r["metadata"]["refund_key"], r["amount"]) for r in listed if r["metadata"].get("refund_key"))

    assert ours() == [("re_test1", 250)]
    assert connector.refund(authorization, amount=100, key="re_test2", timeout_s=5) != refund
    assert ours() == [("re_test1", 250), ("re_test2", 100)]


def test_a_cancel_asked_twice_is_one_cancel_and_a_captured_intent_refuses_one(
    connector: StripeConnector, stripe_fake: LocalStripe
) -> None:
    token = stripe_fake.card(VISA)
    asked = request(token, capture=False)
    approved = connector.authorize(asked, Forgetful(), timeout_s=5)
    assert isinstance(approved, Approved)
    authorization = Authorization(approved.reference, token, "EUR", 1000)
    assert connector.cancel(authorization, key="act_cancel", timeout_s=5) == Approved(approved.reference)
    # Asked again: Stripe refuses to cancel a canceled intent (400), and the intent says it is done.
    assert connector.cancel(authorization, key="act_cancel", timeout_s=5) == Approved(approved.reference)
    assert stripe_fake.intents(asked.payment_id)[0]["status"] == "canceled"

    captured = connector.authorize(request(token), Forgetful(), timeout_s=5)
    assert isinstance(captured, Approved)
    refused = connector.cancel(Authorization(captured.reference, token, "EUR", 1000), key="act_c2", timeout_s=5)
    assert isinstance(refused, Declined) and refused.code == "cancel_refused"


def test_a_declined_card_is_declined_with_our_code_and_charges_nothing(
    connector: StripeConnector, stripe_fake: LocalStripe
) -> None:
    asked, journal = request(stripe_fake.card(DECLINED)), Forgetful()
    outcome = connector.authorize(asked, journal, timeout_s=5)
    # localstripe has no decline_code: its card_declined maps to ours, generic_decline.
    assert outcome == Declined("generic_decline", "card_declined")
    assert connector.authorize(asked, journal, timeout_s=5) == outcome, "the status query gives the same decline"
    assert stripe_fake.charges(asked.payment_id) == [] and len(stripe_fake.intents(asked.payment_id)) == 1


def test_a_3ds_card_requires_action_with_stripes_next_action(
    connector: StripeConnector, stripe_fake: LocalStripe
) -> None:
    asked, journal = request(stripe_fake.card(THREE_D_SECURE)), Forgetful()
    outcome = connector.authorize(asked, journal, timeout_s=5)
    assert isinstance(outcome, RequiresAction) and outcome.reference == journal.reference
    assert outcome.next_action["type"] == "use_stripe_sdk"
    assert connector.authorize(asked, journal, timeout_s=5) == outcome
    assert stripe_fake.charges(asked.payment_id) == []


def test_nothing_is_confirmed_until_the_intent_is_remembered(
    connector: StripeConnector, stripe_fake: LocalStripe
) -> None:
    asked = request(stripe_fake.card(VISA))
    with pytest.raises(ConnectionError):
        connector.authorize(asked, Remembering(fails=True), timeout_s=5)
    assert [i["status"] for i in stripe_fake.intents(asked.payment_id)] == ["requires_confirmation"]
    assert stripe_fake.charges(asked.payment_id) == []


def test_two_tries_racing_on_one_payment_confirm_the_intent_remembered_first_only(
    connector: StripeConnector, stripe_fake: LocalStripe
) -> None:
    """A retry and the first request both create an intent (localstripe ignores the create's key); the
    journal keeps the first remembered, and the later try confirms that one, not its own."""
    asked = request(stripe_fake.card(VISA))
    first = Forgetful()
    shared: list[str] = []

    class Shared(Forgetful):
        def remember(self, reference: str) -> str:
            shared.append(reference)
            return shared[0]

    # The later try creates its own intent, and finds the first's remembered when it remembers its own.
    early = connector._intents.create(
        params={
            "amount": 1000,
            "currency": "eur",
            "payment_method": asked.payment_method,
            "metadata": {"payment_id": asked.payment_id},
        }
    )
    shared.append(early.id)
    outcome = connector.authorize(asked, Shared(), timeout_s=5)
    assert outcome == Approved(early.id)
    statuses = sorted(i["status"] for i in stripe_fake.intents(asked.payment_id))
    assert statuses == ["requires_confirmation", "succeeded"], "its own intent was never confirmed"
    assert len(stripe_fake.charges(asked.payment_id)) == 1
    # And a try that finds the intent confirmed by another a moment ago answers it without confirming again.
    assert connector.authorize(asked, Forgetful(early.id), timeout_s=5) == Approved(early.id)
    assert len(stripe_fake.charges(asked.payment_id)) == 1 and first.reference is None


def test_an_unknown_token_is_refused_before_anything_is_sent(connector: StripeConnector) -> None:
    from payment_processor.connectors.base import UnknownPaymentMethod

    for token in ("4242424242424242", "tok_", "pm_\u200bx", "src_abc", ""):
        with pytest.raises(UnknownPaymentMethod):
            connector.check_payment_method(token)
    connector.check_payment_method("pm_1Abc")
    connector.check_payment_method("tok_visa")


def test_increment_authorization_on_localstripe_is_refused_it_has_no_such_route(
    connector: StripeConnector, stripe_fake: LocalStripe
) -> None:
    token = stripe_fake.card(VISA)
    approved = connector.authorize(request(token, capture=False), Forgetful(), timeout_s=5)
    assert isinstance(approved, Approved)
    outcome = connector.increment_authorization(
        Authorization(approved.reference, token, "EUR", 1000), amount=2000, key="act_inc", timeout_s=5
    )
    assert isinstance(outcome, Declined) and outcome.code == "increment_refused"


# Faults: each outcome decides whether the payment may go elsewhere (refused) or must be asked again here.


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_connection_refused_is_refused_nothing_was_sent() -> None:
    connector = StripeConnector(SECRET_KEY, api_base=f"http://127.0.0.1:{_closed_port()}")
    outcome = connector.authorize(request("pm_anything"), Forgetful(), timeout_s=2)
    assert isinstance(outcome, Refused)
    authorization = Authorization("pi_x", "pm_anything", "EUR", 100)
    assert isinstance(connector.capture(authorization, amount=100, key="k", timeout_s=2), Refused)
    assert isinstance(connector.refund(authorization, amount=100, key="k", timeout_s=2), Refused)


def test_a_black_holed_acquirer_is_unknown_within_the_timeout_when_money_may_have_moved() -> None:
    with black_hole() as port:
        connector = StripeConnector(SECRET_KEY, api_base=f"http://127.0.0.1:{port}")
        authorization = Authorization("pi_x", "pm_anything", "EUR", 100)
        started = time.monotonic()
        outcome = connector.capture(authorization, amount=100, key="k", timeout_s=0.5)
        assert isinstance(outcome, Unknown) and time.monotonic() - started < 3
        # Creating the intent moves no money, so even a lost answer there is refused: safe elsewhere.
        journal = Forgetful()
        assert isinstance(connector.authorize(request("pm_anything"), journal, timeout_s=0.5), Refused)
        # Confirming does: an intent remembered earlier and unreadable now is unknown.
        journal.remember("pi_remembered")
        assert isinstance(connector.authorize(request("pm_anything"), journal, timeout_s=0.5), Unknown)


def test_tls_that_fails_is_refused_the_request_never_left() -> None:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(server)  # a CA nobody trusts
    with receiver(tls=server) as untrusted:
        connector = StripeConnector(SECRET_KEY, api_base=untrusted.url(path=""))
        outcome = connector.capture(Authorization("pi_x", "pm_x", "EUR", 1), amount=1, key="k", timeout_s=2)
        assert isinstance(outcome, Refused) and untrusted.received == []


def test_a_5xx_after_sending_is_unknown_and_a_429_is_refused() -> None:
    def error(status: int) -> Answer:
        body = {"error": {"type": "api_error", "message": "try again"}}
        return Answer(status=status, headers={"Content-Type": "application/json"}, body=json.dumps(body).encode())

    authorization = Authorization("pi_x", "pm_x", "EUR", 1)
    with receiver(lambda _: error(500)) as failing:
        connector = StripeConnector(SECRET_KEY, api_base=failing.url(path=""))
        assert isinstance(connector.capture(authorization, amount=1, key="k", timeout_s=2), Unknown)
        assert failing.received[0].headers["idempotency-key"] == "k"
    with receiver(lambda _: error(429)) as limiting:
        connector = StripeConnector(SECRET_KEY, api_base=limiting.url(path=""))
        assert isinstance(connector.capture(authorization, amount=1, key="k", timeout_s=2), Refused)
        assert isinstance(connector.authorize(request("pm_x"), Forgetful(), timeout_s=2), Refused)


def test_the_secret_key_is_in_no_outcome_and_no_request_but_the_authorization_header(
    stripe_fake: LocalStripe, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sk_test_DoNotLeakThis0123456789"
    connector = StripeConnector(secret, api_base=stripe_fake.api_base)
    outcomes = [connector.authorize(request(stripe_fake.card(VISA)), Forgetful(), timeout_s=5)]
    wrong = StripeConnector("sk_", api_base=stripe_fake.api_base)  # localstripe refuses it: 401
    outcomes.append(wrong.authorize(request("pm_x"), Forgetful(), timeout_s=5))
    assert isinstance(outcomes[-1], Refused)
    assert all(secret not in repr(o) and "sk_" not in repr(o) for o in outcomes), outcomes
    assert secret not in caplog.text
    seen: list[dict[str, str]] = []

    def refuse(r: Received) -> Answer:
        seen.append(r.headers)
        return Answer(status=500)

    with receiver(refuse) as spy:
        StripeConnector(secret, api_base=spy.url(path="")).cancel(
            Authorization("pi_x", "pm_x", "EUR", 1), key="k", timeout_s=2
        )
    assert seen and [k for k, v in seen[0].items() if secret in v] == ["authorization"]
