"""The security review's findings (issue "Security: one canonical credential …"), each reproduced over HTTP
on the local target as the reviewer reproduced it, and shown fixed. Shares the session's dev/alpha
deployment; every test makes its own merchant."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.emulator.conftest import Cli
from tests.emulator.test_security_http import Client, new_key, pay

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def api(alpha: dict[str, Any]) -> Client:
    return Client(str(alpha["api"]["url"]))


@pytest.mark.parametrize("route", ["capture", "refunds"])
def test_a_null_amount_on_capture_or_refund_is_422_and_moves_nothing(cli: Cli, api: Client, route: str) -> None:
    """Finding 3: ``{"amount": null}`` captured 10000 of 10000 and refunded the rest; omitted means all,
    ``null`` is refused."""
    secret = str(new_key(cli, f"merch_null_{uuid.uuid4().hex[:8]}")["secret"])
    manual = route == "capture"
    status, _, payment = api.call("POST", "/payments", secret=secret, key=str(uuid.uuid4()),
                                  body=pay(10000, **({"capture_method": "manual"} if manual else {})))  # fmt: skip
    assert status == 201, payment
    key = str(uuid.uuid4())
    status, _, refused = api.call("POST", f"/payments/{payment['id']}/{route}", secret=secret, key=key,
                                  body='{"amount": null}')  # fmt: skip
    assert (status, refused["error"]["code"], refused["error"]["field"]) == (422, "validation_error", "amount")
    status, _, after = api.call("GET", f"/payments/{payment['id']}", secret=secret)
    assert (status, after["status"], after["amount_captured"], after["amount_refunded"]) == (
        200, payment["status"], payment["amount_captured"], 0)  # fmt: skip
    status, _, refunds = api.call("GET", f"/payments/{payment['id']}/refunds", secret=secret)
    assert (status, refunds["data"]) == (200, [])
    # The refusal kept nothing under its key: the same key with the amount left out does the whole amount.
    status, _, whole = api.call("POST", f"/payments/{payment['id']}/{route}", secret=secret, key=key, body={})
    assert status in (200, 201) and whole["amount"] == 10000, whole


def test_iso_4217_funds_are_refused(cli: Cli, api: Client) -> None:
    """Finding 7: the fund codes were accepted although the README says funds are refused."""
    secret = str(new_key(cli, f"merch_fund_{uuid.uuid4().hex[:8]}")["secret"])
    for code in ("BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"):
        status, _, refused = api.call("POST", "/payments", secret=secret, key=str(uuid.uuid4()),
                                      body={**pay(500), "currency": code})  # fmt: skip
        assert (status, refused["error"]["code"], refused["error"]["field"]) == (422, "currency_unsupported",
                                                                                 "currency"), code  # fmt: skip
    status, _, listed = api.call("GET", "/payments", secret=secret)
    assert (status, listed["data"]) == (200, [])
