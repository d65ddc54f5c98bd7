"""The OpenAPI document is valid and every response the API gives conforms to it."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import pytest
import yaml
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate

from payment_processor.apikeys import NOT_VALID
from payment_processor.failed_authentications import lockout_message
from payments_infra.api_responses import GATEWAY_RESPONSES, gateway_response_template
from payments_infra.environments import get_environment
from payments_infra.naming import Naming
from tests.support import body_of, payment_body, post, post_payment, proxy_event
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
        args=event.get("queryStringParameters") or {},
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
        post_payment(payment_body(payment_method="tok_acquirerUnavailable"), key="g"),
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


def test_every_merchant_api_response_matches_the_document(app: App, openapi: OpenAPI) -> None:
    """Capture, cancel, refunds, lists and the feed: each status each of them answers, checked."""
    manual = body_of(app.api.handle(post_payment(payment_body(capture_method="manual", amount=900), key="m")))
    charged = body_of(app.api.handle(post_payment(payment_body(amount=500), key="c")))
    refusing = payment_body(capture_method="manual", payment_method="tok_captureRefused")
    refused = body_of(app.api.handle(post_payment(refusing, key="x")))
    no_refund = body_of(app.api.handle(post_payment(payment_body(payment_method="tok_refundRefused"), key="y")))
    unknown = "pay_" + "e" * 26
    cases = [
        post(f"/payments/{manual['id']}/capture", {"amount": 2000}, key="1"),  # 422
        post(f"/payments/{manual['id']}/capture", {"amount": 400}, key="2"),  # 200
        post(f"/payments/{manual['id']}/capture", key="3"),  # 409
        post(f"/payments/{manual['id']}/cancel", key="4"),  # 409
        post(f"/payments/{refused['id']}/capture", key="5"),  # 402
        post(f"/payments/{refused['id']}/cancel", {"cancellation_reason": "abandoned"}, key="6"),  # 200
        post(f"/payments/{unknown}/cancel", key="7"),  # 404
        post(f"/payments/{charged['id']}/refunds", {"amount": 100, "reason": "duplicate"}, key="8"),  # 201
        post(f"/payments/{charged['id']}/refunds", {"amount": 100, "reason": "duplicate"}, key="8"),  # replay
        post(f"/payments/{charged['id']}/refunds", {"amount": 401}, key="9"),  # 422
        post(f"/payments/{no_refund['id']}/refunds", key="10"),  # 402
        post(f"/payments/{charged['id']}/refunds", key=None),  # 400
        proxy_event("GET", f"/payments/{charged['id']}/refunds", query={"limit": "1"}),  # 200
        proxy_event("GET", "/payments", query={"limit": "2", "status": "succeeded"}),  # 200
        proxy_event("GET", "/payments", query={"limit": "0"}),  # 400
        proxy_event("GET", "/payments", query={"starting_after": unknown}),  # 404
        proxy_event("GET", "/events", query={"limit": "3"}),  # 200
        proxy_event("GET", "/events", query={"ending_before": f"{unknown}:0001"}),  # 404
    ]
    seen = set()
    for event in cases:
        response = app.api.handle(event)
        seen.add(response["statusCode"])
        parts = event["path"].split("/")
        check(openapi, event, response, {"id": parts[2]} if len(parts) > 3 else None)
    assert seen == {200, 201, 400, 402, 404, 409, 422}
    feed = body_of(app.api.handle(proxy_event("GET", "/events", query={"limit": "100"})))["data"]
    assert {"refund.succeeded", "refund.failed", "payment.canceled", "payment.requires_capture"} <= {
        event["type"] for event in feed
    }


def test_document_rejects_a_response_that_breaks_it(app: App, openapi: OpenAPI) -> None:
    """The check above can fail: a 201 without an id is caught."""
    event = post_payment(payment_body(), key="z")
    response = app.api.handle(event)
    response["body"] = response["body"].replace('"id":', '"identifier":')
    with pytest.raises(Exception, match=r"(?i)invalid|required"):
        check(openapi, event, response)


#: One event per operation, for answers given before the processor runs (any valid request will do).
_ID = "pay_" + "c" * 26
#: Each operation: an event that calls it, and the path's arguments.
OPERATIONS: dict[str, tuple[Callable[[], dict[str, Any]], dict[str, str] | None]] = {
    "createPayment": (lambda: post_payment(payment_body(), key="edge"), None),
    "listPayments": (lambda: proxy_event("GET", "/payments"), None),
    "getPayment": (lambda: proxy_event("GET", f"/payments/{_ID}"), {"id": _ID}),
    "capturePayment": (lambda: post(f"/payments/{_ID}/capture", key="edge"), {"id": _ID}),
    "cancelPayment": (lambda: post(f"/payments/{_ID}/cancel", key="edge"), {"id": _ID}),
    "refundPayment": (lambda: post(f"/payments/{_ID}/refunds", key="edge"), {"id": _ID}),
    "listRefunds": (lambda: proxy_event("GET", f"/payments/{_ID}/refunds"), {"id": _ID}),
    "listEvents": (lambda: proxy_event("GET", "/events"), None),
}


def edge_response(status: int, body: str, headers: dict[str, str]) -> dict[str, Any]:
    """An answer from API Gateway or WAF, shaped like a proxy response so ``check`` can read it."""
    return {"statusCode": status, "body": body, "headers": {"Content-Type": "application/json", **headers}}


#: The contexts of the authorizer's Deny answers, each of which ACCESS_DENIED's template fills in.
DENIALS = {
    "invalid_api_key": {"error_code": "invalid_api_key", "message": NOT_VALID},
    "too_many_failed_authentications": {
        "error_code": "too_many_failed_authentications",
        "message": lockout_message(datetime(2026, 12, 7, 10, 1, tzinfo=UTC)),
    },
}


def gateway_answer(response_type: str, authorizer: dict[str, str] | None = None) -> dict[str, Any]:
    """What API Gateway sends for ``response_type``: the deployed template, ``$context.requestId`` and the
    authorizer's context (an ACCESS_DENIED's: the Deny's code and message; invalid_api_key's by default)
    filled in."""
    status, code, message, headers = GATEWAY_RESPONSES[response_type]
    context = authorizer or DENIALS["invalid_api_key"]
    body = gateway_response_template(code, message).replace("$context.requestId", str(uuid.uuid4()))
    body = re.sub(r"\$context\.authorizer\.([A-Za-z0-9_]+)", lambda m: context[m.group(1)], body)
    assert "$context" not in body
    return edge_response(status, body, headers)


def waf_answer(environment: str, rule_name: str) -> dict[str, Any]:
    """What the WAF rule ``rule_name`` sends, read from the ``CredentialRateLimit`` construct itself.

    Imported here, not at the top: the CDK bindings take seconds to load, and only these tests need them.
    """
    from cdktn import TerraformStack, Testing
    from cdktn_aws import api_gateway

    from payments_infra.constructs.rate_limit import CredentialRateLimit

    config = get_environment(environment)
    stack = TerraformStack(Testing.app(), "waf")
    stage = api_gateway.AwsStage(stack, "stage", rest_api_id="api", deployment_id="deployment", stage_name="v1")
    acl = CredentialRateLimit(stack, "rate", config=config, naming=Naming(config.name, "pr42"), stage=stage).web_acl
    assert isinstance(acl.custom_response_body_input, list) and isinstance(acl.rule_input, list)
    bodies = {body.key: body for body in acl.custom_response_body_input}
    (rule,) = [rule for rule in acl.rule_input if rule.name == rule_name]
    assert rule.action is not None and rule.action.block is not None
    custom = rule.action.block.custom_response
    assert custom is not None and custom.custom_response_body_key is not None
    assert isinstance(custom.response_header, list)
    body = bodies[custom.custom_response_body_key]
    assert body.content_type == "APPLICATION_JSON"
    return edge_response(
        int(custom.response_code), body.content, {header.name: header.value for header in custom.response_header}
    )


@pytest.mark.parametrize(
    ("event", "status", "code", "field"),
    [
        # No authorizer context (the function invoked some other way): 401, on both operations.
        (post_payment(payment_body(), key="u", merchant=None), 401, "authentication_required", None),
        (proxy_event("GET", "/payments/pay_" + "d" * 26, merchant=None), 401, "authentication_required", None),
        (post_payment(payment_body(), key="r", read_only=True), 403, "insufficient_permissions", None),
        (post_payment(payment_body(merchant_id="merch_other"), key="m"), 422, "validation_error", "merchant_id"),
    ],
    ids=["post-without-caller", "get-without-caller", "read-only-key", "merchant-id-in-body"],
)
def test_authentication_answers_of_the_processor_match_the_document(
    app: App, openapi: OpenAPI, event: dict[str, Any], status: int, code: str, field: str | None
) -> None:
    """The processor's own refusals: no caller, a read-only key writing, a merchant named in the body."""
    response = app.api.handle(event)
    assert response["statusCode"] == status
    error = body_of(response)["error"]
    assert (error["code"], error.get("field")) == (code, field)
    view_args = {"id": event["path"].rsplit("/", 1)[1]} if event["httpMethod"] == "GET" else None
    check(openapi, event, response, view_args)


def test_a_create_request_with_merchant_id_or_without_a_key_breaks_the_document(openapi: OpenAPI) -> None:
    """The document publishes what the processor does: the merchant is the key's, not the body's."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": "k", "Authorization": "Bearer sk_test_x"}

    def request(body: dict[str, Any], headers: dict[str, str]) -> MockRequest:
        return MockRequest("http://localhost", "post", "/payments", headers=headers, data=json.dumps(body).encode())

    openapi.validate_request(request(payment_body(), headers))
    with pytest.raises(Exception, match="merchant_id"):
        openapi.validate_request(request(payment_body(merchant_id="merch_123"), headers))
    without_key = {name: value for name, value in headers.items() if name != "Authorization"}
    with pytest.raises(Exception, match=r"(?i)security"):
        openapi.validate_request(request(payment_body(), without_key))


@pytest.mark.parametrize("response_type", sorted(set(GATEWAY_RESPONSES) - {"MISSING_AUTHENTICATION_TOKEN"}))
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_gateway_responses_match_the_document(openapi: OpenAPI, response_type: str, operation: str) -> None:
    """API Gateway answers these on any route, before the processor runs: every operation documents them."""
    make_event, view_args = OPERATIONS[operation]
    check(openapi, make_event(), gateway_answer(response_type), view_args)


@pytest.mark.parametrize("denial", sorted(DENIALS))
def test_each_denial_of_the_authorizer_matches_the_document(openapi: OpenAPI, denial: str) -> None:
    """ACCESS_DENIED's code is the Deny's own: each code the authorizer answers is a documented one."""
    make_event, view_args = OPERATIONS[sorted(OPERATIONS)[0]]
    answer = gateway_answer("ACCESS_DENIED", DENIALS[denial])
    assert body_of(answer)["error"]["code"] == denial
    check(openapi, make_event(), answer, view_args)


def test_gateway_responses_are_the_documented_ones() -> None:
    """Each status the edge can answer with is one the tests above check (no response type forgotten)."""
    answers = {kind: gateway_answer(kind) for kind in GATEWAY_RESPONSES}
    assert {kind: answer["statusCode"] for kind, answer in answers.items()} == {
        "UNAUTHORIZED": 401,
        "ACCESS_DENIED": 401,
        "AUTHORIZER_FAILURE": 503,
        "AUTHORIZER_CONFIGURATION_ERROR": 503,
        "THROTTLED": 429,
        "MISSING_AUTHENTICATION_TOKEN": 404,
    }
    assert answers["UNAUTHORIZED"]["headers"]["WWW-Authenticate"] == "Bearer"
    assert answers["ACCESS_DENIED"]["headers"]["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert all(uuid.UUID(body_of(answer)["error"]["request_id"]) for answer in answers.values())


def test_an_unknown_route_is_answered_in_the_documented_error_shape(openapi: OpenAPI) -> None:
    """An unknown route has no operation to check against; its body has the same shape as a documented 404."""
    answer = gateway_answer("MISSING_AUTHENTICATION_TOKEN")
    assert body_of(answer)["error"]["code"] == "route_not_found"
    make_event, view_args = OPERATIONS["getPayment"]
    check(openapi, make_event(), answer, view_args)


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
@pytest.mark.parametrize(
    ("rule_name", "status", "code", "window"),
    [
        # WAF's per-key 429.
        ("per-credential-rate", 429, "rate_limited", "api_rate_limit_window_s"),
        # WAF's per-address 401 for credentials that are not a well-formed key.
        ("failed-authentications-per-address", 401, "too_many_failed_authentications", "auth_failure_window_s"),
    ],
)
def test_the_waf_answers_match_the_document(
    openapi: OpenAPI, environment: str, rule_name: str, status: int, code: str, window: str
) -> None:
    """Each WAF rule's answer is documented on every operation, with the Retry-After it sends."""
    answer = waf_answer(environment, rule_name)
    assert answer["statusCode"] == status
    assert body_of(answer)["error"]["code"] == code
    assert int(answer["headers"]["Retry-After"]) == getattr(get_environment(environment), window)
    for make_event, view_args in OPERATIONS.values():
        check(openapi, make_event(), answer, view_args)


def _without_www_authenticate(app: App) -> tuple[dict[str, Any], dict[str, Any], dict[str, str] | None]:
    event = post_payment(payment_body(), key="w", merchant=None)
    response = app.api.handle(event)
    del response["headers"]["WWW-Authenticate"]
    return event, response, None


def _undocumented_error_code(app: App) -> tuple[dict[str, Any], dict[str, Any], dict[str, str] | None]:
    answer = gateway_answer("ACCESS_DENIED")
    answer["body"] = answer["body"].replace('"invalid_api_key"', '"forbidden"')
    return OPERATIONS["createPayment"][0](), answer, None


def _forbidden_on_a_read(app: App) -> tuple[dict[str, Any], dict[str, Any], dict[str, str] | None]:
    answer = app.api.handle(post_payment(payment_body(), key="x", read_only=True))
    make_event, view_args = OPERATIONS["getPayment"]
    return make_event(), answer, view_args


def _rate_limit_without_retry_after(app: App) -> tuple[dict[str, Any], dict[str, Any], dict[str, str] | None]:
    answer = gateway_answer("THROTTLED")
    del answer["headers"]["Retry-After"]
    return OPERATIONS["createPayment"][0](), answer, None


@pytest.mark.parametrize(
    ("breaks", "message"),
    [
        (_without_www_authenticate, "Missing required header: WWW-Authenticate"),
        (_undocumented_error_code, "'forbidden' is not one of"),
        (_forbidden_on_a_read, "Unknown response http status: 403"),
        (_rate_limit_without_retry_after, "Missing required header: Retry-After"),
    ],
    ids=["401-without-www-authenticate", "401-with-another-code", "403-on-get", "429-without-retry-after"],
)
def test_document_rejects_authentication_answers_that_break_it(
    app: App, openapi: OpenAPI, breaks: Any, message: str
) -> None:
    """The checks above can fail: each of these near misses is caught."""
    event, response, view_args = breaks(app)
    with pytest.raises(Exception, match=message):
        check(openapi, event, response, view_args)


def test_the_route_table_is_the_documents_paths_and_methods() -> None:
    # One table (payment_processor.routes) feeds the router, the 404's message and the infrastructure; this
    # holds it to the document, operation ids included.
    from payment_processor.routes import ROUTES

    spec = yaml.safe_load(SPEC_TEXT)
    documented = {
        (method.upper(), path, operation["operationId"])
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    }
    assert {(route.method, route.path, route.operation) for route in ROUTES} == documented
    assert len(ROUTES) == len(documented) == len({(route.method, route.path) for route in ROUTES})


def test_every_increment_authorization_answer_matches_the_document(app: App, openapi: OpenAPI) -> None:
    manual = body_of(app.api.handle(post_payment(payment_body(capture_method="manual", amount=900), key="m")))
    refusing = payment_body(capture_method="manual", payment_method="tok_incrementRefused")
    refused = body_of(app.api.handle(post_payment(refusing, key="x")))
    charged = body_of(app.api.handle(post_payment(payment_body(amount=500), key="c")))
    path = "/payments/{}/increment_authorization"
    cases = [
        post(path.format(manual["id"]), {"amount": 1200}, key="1"),  # 200
        post(path.format(manual["id"]), {"amount": 1200}, key="1"),  # replay
        post(path.format(manual["id"]), {"amount": 1100}, key="2"),  # 422: not above 1200
        post(path.format(refused["id"]), {"amount": 5000}, key="3"),  # 402
        post(path.format(charged["id"]), {"amount": 5000}, key="4"),  # 409
        post(path.format("pay_" + "e" * 26), {"amount": 5000}, key="5"),  # 404
        post(path.format(manual["id"]), {"amount": 5000}, key=None),  # 400
    ]
    seen = set()
    for event in cases:
        response = app.api.handle(event)
        seen.add(response["statusCode"])
        check(openapi, event, response, {"id": event["path"].split("/")[2]})
    assert seen == {200, 400, 402, 404, 409, 422}
    # The feed shows the increment's event, as the document describes it.
    feed = proxy_event("GET", "/events", query={"limit": "100"})
    answer = app.api.handle(feed)
    check(openapi, feed, answer)
    assert "payment.authorization_incremented" in {event["type"] for event in body_of(answer)["data"]}


def test_every_event_the_code_writes_is_a_documented_type() -> None:
    # The states' first events, every move of the transition table, and the changes that keep a status: a
    # new operation's event must be added to the document too (the feed answers it).
    from payment_processor.operations.increment import EVENT as INCREMENTED
    from payment_processor.states import PAYMENT_INITIAL, PAYMENT_TRANSITIONS, REFUND_INITIAL, REFUND_TRANSITIONS
    from payment_processor.webhooks.deliveries import ENDPOINT_DISABLED

    written = {
        f"payment.{PAYMENT_INITIAL}",
        f"refund.{REFUND_INITIAL}",
        INCREMENTED,
        ENDPOINT_DISABLED,
        *PAYMENT_TRANSITIONS.values(),
        *REFUND_TRANSITIONS.values(),
    }
    documented = set(yaml.safe_load(SPEC_TEXT)["components"]["schemas"]["Event"]["properties"]["type"]["enum"])
    assert written == documented
