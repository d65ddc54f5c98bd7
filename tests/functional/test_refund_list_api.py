"""`GET /payments/{id}/refunds` on the real PostgreSQL server through the API layer: a payment's refunds, newest
first, a page at a time (keyset cursor), only the caller's (another merchant's payment has none to show)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aws_lambda_powertools import Logger

from payment_processor.api import Api
from payment_processor.handler import build_service
from tests.conftest import Services
from tests.support import payment_body, post, post_payment, proxy_event


def answer(response: dict[str, Any]) -> tuple[int, Any]:
    return response["statusCode"], json.loads(response["body"])


def test_a_payments_refunds_are_listed_newest_first_a_page_at_a_time(clean: Services) -> None:
    api = Api(build_service(clean.settings()), Logger(service="refund-list"))
    status, paid = answer(api.handle(post_payment(payment_body(amount=3000), key=str(uuid.uuid4()))))
    assert (status, paid["status"]) == (201, "succeeded")
    refunds = []
    for amount in (500, 700, 900):
        status, refund = answer(
            api.handle(post(f"/payments/{paid['id']}/refunds", {"amount": amount}, key=str(uuid.uuid4())))
        )
        assert status == 201, refund
        refunds.append(refund["id"])

    path = f"/payments/{paid['id']}/refunds"
    status, first = answer(api.handle(proxy_event("GET", path, query={"limit": "2"})))
    assert status == 200 and [r["id"] for r in first["data"]] == refunds[:0:-1] and first["has_more"] is True
    query = {"limit": "2", "starting_after": first["data"][-1]["id"]}
    status, rest = answer(api.handle(proxy_event("GET", path, query=query)))
    assert status == 200 and [r["id"] for r in rest["data"]] == refunds[:1] and rest["has_more"] is False
    assert [r["amount"] for r in first["data"] + rest["data"]] == [900, 700, 500]

    status, foreign = answer(api.handle(proxy_event("GET", path, merchant="merch_other")))
    assert status == 404, foreign
