"""The ISO 4217 table and the simulated acquirer."""

from __future__ import annotations

import pytest

from payment_processor import currency
from payment_processor.gateway import SimulatedAcquirer, UnknownPaymentMethod
from payment_processor.payment import is_payment_id, new_payment_id


def test_real_currency_list_with_exponents() -> None:
    assert currency.lookup("USD").exponent == 2  # type: ignore[union-attr]
    assert currency.lookup("JPY").exponent == 0  # type: ignore[union-attr]
    assert currency.lookup("KWD").exponent == 3  # type: ignore[union-attr]
    assert currency.lookup("XAU") is None and currency.lookup("ABC") is None
    assert len(currency.payable_codes()) > 150


def test_acquirer_is_deterministic() -> None:
    acquirer = SimulatedAcquirer()
    a = acquirer.authorize(amount=1, currency="USD", payment_method="tok_visa", idempotency_key="k")
    b = acquirer.authorize(amount=1, currency="USD", payment_method="tok_visa", idempotency_key="k")
    assert a == b and a.approved and a.authorization_code
    declined = acquirer.authorize(amount=1, currency="USD", payment_method="tok_chargeDeclined", idempotency_key="k")
    assert not declined.approved and declined.decline_code == "generic_decline"
    with pytest.raises(UnknownPaymentMethod):
        acquirer.authorize(amount=1, currency="USD", payment_method="tok_other", idempotency_key="k")


def test_payment_ids() -> None:
    ids = {new_payment_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(is_payment_id(i) for i in ids)
    assert not is_payment_id("pay_short") and not is_payment_id("pay_" + "A" * 26)
