"""Property-based: no request, however malformed, gets a 500 or writes anything when refused."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payment_processor.api import Api
from payment_processor.connectors.simulated import SimulatedAcquirer
from payment_processor.service import PaymentService
from payment_processor.txlog import OutboxDelivery
from tests.fakes.memory_sink import MemorySink
from tests.fakes.memory_store import InMemoryStore
from tests.support import post_payment, proxy_event

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)

field_values = st.one_of(
    json_values,
    st.integers(min_value=-(10**12), max_value=10**12),
    st.sampled_from(["USD", "usd", "JPY", "XAU", "XYZ", "", "tok_visa", "tok_chargeDeclined", "4242424242424242"]),
)

bodies = st.fixed_dictionaries(
    {},
    optional={
        "amount": field_values,
        "currency": field_values,
        "payment_method": field_values,
        "merchant_id": field_values,
        "description": field_values,
        "customer_id": field_values,
        "metadata": field_values,
        "extra": field_values,
    },
)


def fresh() -> tuple[Api, InMemoryStore, MemorySink]:
    from aws_lambda_powertools import Logger

    store, sink = InMemoryStore(), MemorySink()
    service = PaymentService(store, SimulatedAcquirer(), OutboxDelivery(store, sink))
    return Api(service, Logger(service="payment-processor-properties")), store, sink


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=bodies, key=st.one_of(st.none(), st.text(max_size=300)))
def test_any_body_is_answered_without_500_and_refusals_write_nothing(body: dict[str, Any], key: str | None) -> None:
    api, store, sink = fresh()
    response = api.handle(post_payment(body, key=key))
    status = response["statusCode"]
    assert status in {201, 400, 402, 413, 422}, response
    json.loads(response["body"])
    if status in {400, 413, 422}:
        assert store.payment_count() == 0 and store.key_count() == 0 and not sink.objects
    else:
        assert store.payment_count() == 1 and len(sink.objects) == 1


@settings(max_examples=300, deadline=None)
@given(raw=st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1"))))
def test_any_raw_body_is_answered_without_500(raw: str) -> None:
    api, store, _ = fresh()
    response = api.handle(post_payment(None, raw_body=raw))
    assert response["statusCode"] in {201, 400, 402, 422}
    if response["statusCode"] >= 400 and response["statusCode"] != 402:
        assert store.payment_count() == 0


@settings(max_examples=200, deadline=None)
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", ""]), path=st.text(max_size=60))
def test_any_route_is_answered_without_500(method: str, path: str) -> None:
    api, store, _ = fresh()
    response = api.handle(proxy_event(method, "/" + path))
    assert response["statusCode"] < 500
    assert store.payment_count() == 0 or method == "POST"
