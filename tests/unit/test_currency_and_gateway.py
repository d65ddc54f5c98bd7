"""The ISO 4217 table and the simulated acquirer."""

from __future__ import annotations

import iso4217
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


def test_funds_and_index_units_are_not_payable() -> None:
    for code in ("BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"):
        assert currency.lookup(code) is None, code
    # The table ISO publishes marks its funds: every one it marks must be in the refused set, so a fund
    # added by a later table (a new iso4217 release) fails here instead of becoming payable.
    table = iso4217.raw_xml
    marked = {e.findtext("Ccy") for e in table.iter("CcyNtry") if e.find("CcyNm").get("IsFund") == "true"}
    assert marked and marked <= currency.NOT_PAYABLE, marked - currency.NOT_PAYABLE
    # A currency that shares a country with a fund stays payable.
    assert {"BOB", "CHF", "CLP", "COP", "MXN", "USD", "UYU"} <= currency.payable_codes()


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
