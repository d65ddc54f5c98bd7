"""The OpenAPI document is valid and every response the API gives conforms to it."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate

from tests.support import payment_body, post_payment, proxy_event
from tests.unit.conftest import App

SPEC_TEXT = (resources.files("payment_processor") / "openapi.yaml").read_text()


@pytest.fixture(scope="module")
def openapi() -> OpenAPI:
    spec = yaml.safe_load(SPEC_TEXT)
    validate(spec)
    return OpenAPI.from_dict(spec)


def check(
    openapi: OpenAPI, event: dict[str, Any], response: dict[str, Any], view_args: dict[str, str] | None = None
) -> None:
    request = MockRequest(
        "http://localhost",
        event["httpMethod"].lower(),
        event["path"],
        headers=event["headers"],
        data=event["body"],
        view_args=view_args or {},
    )
    mock = MockResponse(
        response["body"].encode(),
        status_code=response["statusCode"],
        headers=response["headers"],
        content_type="application/json",
    )
    openapi.validate_response(request, mock)


def test_every_kind_of_response_matches_the_document(app: App, openapi: OpenAPI) -> None:
    cases = [
        post_payment(payment_body(), key="a"),
        post_payment(payment_body(), key="a"),
        post_payment(payment_body(payment_method="tok_chargeDeclined"), key="b"),
        post_payment(payment_body(amount=0), key="c"),
        post_payment(payment_body(), key=None),
        post_payment(payment_body(amount=5), key="a"),
        post_payment(None, raw_body="{", key="d"),
    ]
    seen = set()
    for event in cases:
        response = app.api.handle(event)
        seen.add(response["statusCode"])
        check(openapi, event, response)
    created = app.api.handle(post_payment(payment_body(), key="e"))
    payment_id = created["body"].split('"id":"')[1].split('"')[0]
    for path in (f"/payments/{payment_id}", "/payments/pay_" + "b" * 26):
        event = proxy_event("GET", path)
        response = app.api.handle(event)
        seen.add(response["statusCode"])
        check(openapi, event, response, {"id": path.rsplit("/", 1)[1]})
    app.store.available = False
    event = post_payment(payment_body(), key="f")
    response = app.api.handle(event)
    seen.add(response["statusCode"])
    check(openapi, event, response)
    assert seen == {200, 201, 400, 402, 404, 422, 503}


def test_document_rejects_a_response_that_breaks_it(app: App, openapi: OpenAPI) -> None:
    """The check above can fail: a 201 without an id is caught."""
    event = post_payment(payment_body(), key="z")
    response = app.api.handle(event)
    response["body"] = response["body"].replace('"id":', '"identifier":')
    with pytest.raises(Exception, match=r"(?i)invalid|required"):
        check(openapi, event, response)
