"""Every sending of an authorization is an attempt, recorded before it is sent and shown on GET /payments/{id}:
through the real Api and service over the in-memory fakes (on PostgreSQL in tests/functional)."""

from __future__ import annotations

from payment_processor.connectors.base import AuthorizeRequest, Journal
from payment_processor.connectors.outcomes import AuthorizeOutcome, Refused, Unknown
from payment_processor.connectors.simulated import SimulatedAcquirer
from tests.support import body_of, payment_body, post_payment
from tests.unit.conftest import App
from tests.unit.test_merchant_api import get


class Scripted(SimulatedAcquirer):
    """Answers the queued outcomes first, then as the simulated acquirer; counts what it was sent."""

    def __init__(self, *outcomes: AuthorizeOutcome) -> None:
        super().__init__()
        self.queued = list(outcomes)
        self.sent: list[str | None] = []

    def authorize(self, request: AuthorizeRequest, journal: Journal, *, timeout_s: float) -> AuthorizeOutcome:
        self.sent.append(journal.reference)
        if self.queued:
            return self.queued.pop(0)
        journal.remember("ref_" + request.key)
        return super().authorize(request, journal, timeout_s=timeout_s)


def attempts(app: App, payment_id: str) -> list[tuple[str, str]]:
    return [(a["connector"], a["outcome"]) for a in body_of(get(app, f"/payments/{payment_id}"))["attempts"]]


def test_refused_and_unknown_are_each_an_attempt_and_the_same_key_sends_again(app: App) -> None:
    acquirer = Scripted(Refused("connection refused"), Unknown("read timed out"))
    app.service.context.connector = acquirer
    first = app.api.handle(post_payment(payment_body(), key="k"))
    assert (first["statusCode"], body_of(first)["error"]["code"]) == (503, "payment_processing")
    (payment_id,) = {p.id for p in app.store._state.payments.values()}
    assert attempts(app, payment_id) == [("simulated", "refused")]
    assert app.api.handle(post_payment(payment_body(), key="k"))["statusCode"] == 503
    done = app.api.handle(post_payment(payment_body(), key="k"))
    assert (done["statusCode"], body_of(done)["status"]) == (201, "succeeded")
    assert attempts(app, payment_id) == [("simulated", "refused"), ("simulated", "unknown"), ("simulated", "approved")]
    # A replay sends nothing.
    assert app.api.handle(post_payment(payment_body(), key="k"))["statusCode"] == 201 and len(acquirer.sent) == 3


def test_a_reference_remembered_by_one_attempt_is_where_the_next_starts(app: App) -> None:
    class RemembersThenGoesSilent(Scripted):
        def authorize(self, request: AuthorizeRequest, journal: Journal, *, timeout_s: float) -> AuthorizeOutcome:
            if not self.sent:
                self.sent.append(journal.reference)
                journal.remember("pi_first")  # made at the acquirer, then the answer to confirming it was lost
                return Unknown("read timed out")
            return super().authorize(request, journal, timeout_s=timeout_s)

    acquirer = RemembersThenGoesSilent()
    app.service.context.connector = acquirer
    assert app.api.handle(post_payment(payment_body(), key="r"))["statusCode"] == 503
    assert app.api.handle(post_payment(payment_body(), key="r"))["statusCode"] == 201
    assert acquirer.sent == [None, "pi_first"], "the retry went on from what the first attempt made"
    (payment_id,) = {p.id for p in app.store._state.payments.values()}
    assert app.store.next_attempt("att_" + "b" * 26, payment_id, "simulated") is None, "settled: no more attempts"


def test_another_merchants_payment_shows_no_attempts_it_is_not_found(app: App) -> None:
    created = body_of(app.api.handle(post_payment(payment_body(), key="o")))
    assert get(app, f"/payments/{created['id']}", merchant="merch_other")["statusCode"] == 404


def test_an_acquirer_that_asks_for_3ds_without_a_journal_entry_is_found_again_by_its_reference(app: App) -> None:
    from payment_processor.connectors.outcomes import Approved, Declined, RequiresAction
    from tests.support import post

    # A connector that answers requires_action without remembering anything: the protocol keeps its reference.
    challenge = RequiresAction("ref_3ds", {"type": "redirect_to_url", "redirect_to_url": {"url": "https://acs.test/"}})
    acquirer = Scripted(challenge, challenge, Approved("ref_3ds"))
    app.service.context.connector = acquirer
    created = app.api.handle(post_payment(payment_body(), key="c"))
    waiting = body_of(created)
    assert (created["statusCode"], waiting["status"], waiting["next_action"]) == (
        202,
        "requires_action",
        challenge.next_action,
    )
    early = app.api.handle(post(f"/payments/{waiting['id']}/confirm", key="f1"))
    assert (early["statusCode"], body_of(early)["status"]) == (202, "requires_action")
    done = app.api.handle(post(f"/payments/{waiting['id']}/confirm", {}, key="f2"))
    assert (done["statusCode"], body_of(done)["status"], body_of(done)["authorization_code"]) == (
        200,
        "succeeded",
        "ref_3ds",
    )
    assert acquirer.sent == [None, "ref_3ds", "ref_3ds"], "each confirm asked about the authorization it kept"
    assert attempts(app, waiting["id"]) == [("simulated", "approved")]
    # A body with anything in it is refused before anything is asked; so is a confirm of a settled payment.
    assert app.api.handle(post(f"/payments/{waiting['id']}/confirm", {"amount": 1}, key="f3"))["statusCode"] == 422
    conflict = app.api.handle(post(f"/payments/{waiting['id']}/confirm", key="f4"))
    assert (conflict["statusCode"], body_of(conflict)["error"]["payment_status"]) == (409, "succeeded")
    assert len(acquirer.sent) == 3
    # Failed authentication: declined with the acquirer's code, nothing captured.
    acquirer.queued = [challenge, Declined("authentication_required", "payment_intent_authentication_failure")]
    other = body_of(app.api.handle(post_payment(payment_body(amount=700), key="c2")))
    declined = app.api.handle(post(f"/payments/{other['id']}/confirm", key="f5"))
    assert (declined["statusCode"], body_of(declined)["decline_code"]) == (402, "authentication_required")
