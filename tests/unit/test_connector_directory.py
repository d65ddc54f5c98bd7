"""The processor's directory of merchants' connectors: priority order, the cache and its time to live, a
connector whose secret cannot be read refusing (so the next one answers), the default for a merchant with none,
and failover's next connector. The reads are given to it; here they are counted."""

from __future__ import annotations

from payment_processor.connectors.base import AuthorizeRequest, Connector, Forgetful
from payment_processor.connectors.configuration import MerchantConnector
from payment_processor.connectors.directory import ConnectorDirectory, Unavailable, build, next_after
from payment_processor.connectors.outcomes import Refused
from payment_processor.connectors.simulated import SimulatedAcquirer
from payment_processor.connectors.stripe import StripeConnector
from payment_processor.operations.driver import Context
from tests.fakes.memory_store import InMemoryStore

ENTRIES = {
    "acme": [
        MerchantConnector("acme", "simulated", 2),
        MerchantConnector("acme", "stripe", 1, "https://api.stripe.com", "p/acme/stripe"),
    ]
}


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def directory(secrets: dict[str, str], reads: list[str], clock: Clock) -> ConnectorDirectory:
    def configured(merchant: str) -> list[MerchantConnector]:
        reads.append(merchant)
        return sorted(ENTRIES.get(merchant, []), key=lambda e: e.priority)

    def secret(name: str) -> str:
        return secrets[name]

    return ConnectorDirectory(configured, secret, build, ttl_s=60, clock=clock)


def test_priority_order_and_one_read_per_merchant_per_minute() -> None:
    reads: list[str] = []
    clock = Clock()
    found = directory({"p/acme/stripe": "sk_test_abcdefgh12"}, reads, clock)
    chain = found.for_merchant("acme")
    assert [c.name for c in chain] == ["stripe", "simulated"] and isinstance(chain[0], StripeConnector)
    clock.now = 59.9
    assert found.for_merchant("acme") is chain and reads == ["acme"]
    clock.now = 60.0
    found.for_merchant("acme")
    assert reads == ["acme", "acme"], "read again once the minute is up (a changed connector or rolled key)"
    assert found.for_merchant("other") == []


def test_a_connector_whose_secret_cannot_be_read_refuses_nothing_processed() -> None:
    chain = directory({}, [], Clock()).for_merchant("acme")
    assert isinstance(chain[0], Unavailable) and chain[0].name == "stripe"
    request = AuthorizeRequest("pay_x", "pay_x", 1, "EUR", "tok_visa", True)
    refused = chain[0].authorize(request, Forgetful(), timeout_s=1)
    assert isinstance(refused, Refused) and "KeyError" in refused.reason and "sk_" not in refused.reason
    assert isinstance(chain[1], SimulatedAcquirer)


def test_the_default_answers_for_a_merchant_with_none_and_a_removed_connector_refuses() -> None:
    default = SimulatedAcquirer()
    context = Context(InMemoryStore(), default)
    assert context.connectors_for("anyone") == [default]
    context.directory = directory({"p/acme/stripe": "sk_test_abcdefgh12"}, [], Clock())
    assert context.connectors_for("nobody") == [default]
    assert context.connector_named("acme", "stripe").name == "stripe"
    assert context.connector_named("nobody", "simulated") is default
    gone = context.connector_named("nobody", "stripe")
    assert isinstance(gone, Unavailable)


def test_failover_goes_down_the_chain_and_stops_after_the_last() -> None:
    chain: list[Connector] = [SimulatedAcquirer(), Unavailable("stripe", "x")]
    assert next_after(chain, "simulated") is chain[1]
    assert next_after(chain, "stripe") is None and next_after(chain, "paypal") is None


def test_a_connector_the_deployment_does_not_call_refuses_and_its_secret_is_not_read() -> None:
    read: list[str] = []

    def secret(name: str) -> str:
        read.append(name)
        return "sk_test_abcdefgh12"

    def configured(merchant: str) -> list[MerchantConnector]:
        return sorted(ENTRIES.get(merchant, []), key=lambda e: e.priority)

    only_simulated = ConnectorDirectory(configured, secret, build, enabled=frozenset({"simulated"}))
    chain = only_simulated.for_merchant("acme")
    assert isinstance(chain[0], Unavailable) and chain[0].name == "stripe" and read == []
    request = AuthorizeRequest("pay_x", "pay_x", 1, "EUR", "tok_visa", True)
    refused = chain[0].authorize(request, Forgetful(), timeout_s=1)
    assert isinstance(refused, Refused) and "PAYMENT_CONNECTORS" in refused.reason
    assert isinstance(chain[1], SimulatedAcquirer)
