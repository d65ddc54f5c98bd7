"""The ISO 4217 table and the simulated acquirer."""

from __future__ import annotations

from xml.etree.ElementTree import Element

import iso4217
import pytest

from payment_processor import currency
from payment_processor.connectors.base import Authorization, AuthorizeRequest, Forgetful, UnknownPaymentMethod
from payment_processor.connectors.outcomes import Approved, AuthorizeOutcome, Declined, Unknown
from payment_processor.connectors.simulated import SimulatedAcquirer
from payment_processor.payment import is_payment_id, new_payment_id


def test_real_currency_list_with_exponents() -> None:
    assert currency.lookup("USD").exponent == 2  # type: ignore[union-attr]
    assert currency.lookup("JPY").exponent == 0  # type: ignore[union-attr]
    assert currency.lookup("KWD").exponent == 3  # type: ignore[union-attr]
    assert currency.lookup("XAU") is None and currency.lookup("ABC") is None
    assert len(currency.payable_codes()) > 150


def _is_fund(entry: Element) -> bool:
    """Whether ISO's table marks a currency entry (CcyNtry) as a fund."""
    name = entry.find("CcyNm")
    assert name is not None, "every entry names its currency"
    return name.get("IsFund") == "true"


def test_funds_and_index_units_are_not_payable() -> None:
    for code in ("BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"):
        assert currency.lookup(code) is None, code
    # The table ISO publishes marks its funds: every one it marks must be in the refused set, so a fund
    # added by a later table (a new iso4217 release) fails here instead of becoming payable.
    table = iso4217.raw_xml
    marked = {e.findtext("Ccy") for e in table.iter("CcyNtry") if _is_fund(e)}
    assert marked and marked <= currency.NOT_PAYABLE, marked - currency.NOT_PAYABLE
    # A currency that shares a country with a fund stays payable.
    assert {"BOB", "CHF", "CLP", "COP", "MXN", "USD", "UYU"} <= currency.payable_codes()


def authorize(acquirer: SimulatedAcquirer, token: str, key: str = "k") -> AuthorizeOutcome:
    request = AuthorizeRequest(
        key=key, payment_id="pay_x", amount=1, currency="USD", payment_method=token, capture=True
    )
    return acquirer.authorize(request, Forgetful(), timeout_s=1.0)


def test_acquirer_is_deterministic() -> None:
    acquirer = SimulatedAcquirer()
    a, b = authorize(acquirer, "tok_visa"), authorize(acquirer, "tok_visa")
    assert a == b and isinstance(a, Approved) and a.reference
    assert authorize(acquirer, "tok_visa", key="other") != a
    assert authorize(acquirer, "tok_chargeDeclined") == Declined("generic_decline", "generic_decline")
    assert isinstance(authorize(acquirer, "tok_acquirerUnavailable"), Unknown)
    with pytest.raises(UnknownPaymentMethod):
        authorize(acquirer, "tok_other")


def test_follow_ups_answer_by_token() -> None:
    acquirer = SimulatedAcquirer()

    def on(token: str) -> Authorization:
        return Authorization("ABC123", token, "USD", 500)

    assert acquirer.capture(on("tok_visa"), amount=500, key="act_1", timeout_s=1) == Approved("act_1")
    assert acquirer.capture(on("tok_partialCaptureRefused"), amount=500, key="a", timeout_s=1) == Approved("a")
    assert acquirer.capture(on("tok_partialCaptureRefused"), amount=400, key="a", timeout_s=1) == Declined(
        "partial_capture_unsupported"
    )
    assert acquirer.cancel(on("tok_cancelRefused"), key="a", timeout_s=1) == Declined("cancel_refused")
    assert acquirer.refund(on("tok_refundRefused"), amount=1, key="a", timeout_s=1) == Declined("refund_refused")
    assert isinstance(
        acquirer.increment_authorization(on("tok_followUpsUnavailable"), amount=900, key="a", timeout_s=1), Unknown
    )


def test_payment_ids() -> None:
    ids = {new_payment_id() for _ in range(1000)}
    assert len(ids) == 1000 and all(is_payment_id(i) for i in ids)
    assert not is_payment_id("pay_short") and not is_payment_id("pay_" + "A" * 26)
