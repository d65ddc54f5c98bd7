"""Who may call the API: every method behind the API-key authorizer, the authorizer's cache and
invoke permission, the answers API Gateway gives itself, and WAF's two rate rules at the edge (per credential; per
address for credentials that are not a well-formed key)."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from payment_processor.apikeys import secret_shape
from payment_processor.authorizer import bearer_token
from payments_infra.api_responses import GATEWAY_RESPONSES
from tests.infra.conftest import config_of
from tests.infra.tfjson import Stack, refs, resource_path

#: API Gateway caches a Lambda authorizer's answer for at most an hour, and 300 s unless told otherwise;
#: longer than that a revoked key would keep working (preflight PF505).
MAX_AUTHORIZER_CACHE_S = 300
#: Every route the API serves, and the one source_arn (after the API's execution ARN) its invoke permission
#: is scoped to: any stage, this method, this path with ``*`` for the payment id.
ROUTE_TABLE = {
    ("POST", "/payments"): "/*/POST/payments",
    ("GET", "/payments"): "/*/GET/payments",
    ("GET", "/payments/{id}"): "/*/GET/payments/*",
    ("POST", "/payments/{id}/capture"): "/*/POST/payments/*/capture",
    ("POST", "/payments/{id}/cancel"): "/*/POST/payments/*/cancel",
    ("POST", "/payments/{id}/increment_authorization"): "/*/POST/payments/*/increment_authorization",
    ("POST", "/payments/{id}/confirm"): "/*/POST/payments/*/confirm",
    ("POST", "/payments/{id}/refunds"): "/*/POST/payments/*/refunds",
    ("GET", "/payments/{id}/refunds"): "/*/GET/payments/*/refunds",
    ("GET", "/events"): "/*/GET/events",
    ("GET", "/events/{id}"): "/*/GET/events/*",
    ("POST", "/events/{id}/redeliver"): "/*/POST/events/*/redeliver",
    ("POST", "/webhook_endpoints"): "/*/POST/webhook_endpoints",
    ("GET", "/webhook_endpoints"): "/*/GET/webhook_endpoints",
    ("GET", "/webhook_endpoints/{id}"): "/*/GET/webhook_endpoints/*",
    ("POST", "/webhook_endpoints/{id}"): "/*/POST/webhook_endpoints/*",
    ("DELETE", "/webhook_endpoints/{id}"): "/*/DELETE/webhook_endpoints/*",
    ("POST", "/webhook_endpoints/{id}/roll_secret"): "/*/POST/webhook_endpoints/*/roll_secret",
    ("GET", "/webhook_endpoints/{id}/deliveries"): "/*/GET/webhook_endpoints/*/deliveries",
}


def _authorizer(stack: Stack) -> str:
    name, _ = stack.only("aws_api_gateway_authorizer")
    return name


def test_every_method_needs_the_stacks_authorizer(env_stack: Stack) -> None:
    authorizer = _authorizer(env_stack)
    methods = env_stack.resources("aws_api_gateway_method")
    assert {m["http_method"] for m in methods.values()} == {"POST", "GET", "DELETE"}
    for method in methods.values():
        assert method["authorization"] == "CUSTOM"
        assert method["authorizer_id"] == f"${{aws_api_gateway_authorizer.{authorizer}.id}}"
        assert "api_key_required" not in method, "the authorizer checks the key, not API Gateway usage plans"


def test_the_route_table(env_stack: Stack) -> None:
    """Each route: a CUSTOM-authorized method, an AWS_PROXY integration to the processor, a permission of its
    own scoped to its method and path, all of it deployed (depends_on) and redeployed on change (trigger)."""
    rest_api, _ = env_stack.only("aws_api_gateway_rest_api")
    authorizer = _authorizer(env_stack)
    processor, _ = env_stack.named("aws_lambda_function", "processor/function")
    (deployment,) = env_stack.resources("aws_api_gateway_deployment").values()
    trigger = deployment["triggers"]["redeployment"]
    execution_arn = f"${{aws_api_gateway_rest_api.{rest_api}.execution_arn}}"
    permissions = {
        p["source_arn"].removeprefix(execution_arn): name
        for name, p in env_stack.resources("aws_lambda_permission").items()
        if refs(p["function_name"]) == {f"aws_lambda_function.{processor}"}
    }
    integrations = {
        (i["resource_id"], i["http_method"]): (name, i)
        for name, i in env_stack.resources("aws_api_gateway_integration").items()
    }
    table = {}
    for name, method in env_stack.resources("aws_api_gateway_method").items():
        path = resource_path(env_stack, method["resource_id"])
        assert method["authorization"] == "CUSTOM", (name, path)
        assert method["authorizer_id"] == f"${{aws_api_gateway_authorizer.{authorizer}.id}}"
        assert method.get("request_parameters") == ({"method.request.path.id": True} if "{id}" in path else None)
        integration, body = integrations.pop((method["resource_id"], f"${{aws_api_gateway_method.{name}.http_method}}"))
        assert body["type"] == "AWS_PROXY" and body["integration_http_method"] == "POST"
        assert body["uri"] == f"${{aws_lambda_function.{processor}.invoke_arn}}"
        route = (method["http_method"], path)
        assert route in ROUTE_TABLE, f"unexpected route {route}"
        scope = ROUTE_TABLE[route]
        assert scope in permissions, f"{route} has no permission scoped to {scope}"
        permission = permissions.pop(scope)
        for served in (f"aws_api_gateway_method.{name}", f"aws_api_gateway_integration.{integration}"):
            assert served in deployment["depends_on"] and f"{served}.id" in trigger
        assert f"aws_lambda_permission.{permission}" in deployment["depends_on"]
        table[(method["http_method"], path)] = scope
    assert table == ROUTE_TABLE
    assert not integrations and not permissions, "no integration or processor permission outside the table"


def test_the_authorizer_reads_the_authorization_header_and_caches_briefly(env_stack: Stack) -> None:
    config = config_of(env_stack)
    rest_api, _ = env_stack.only("aws_api_gateway_rest_api")
    _, authorizer = env_stack.only("aws_api_gateway_authorizer")
    function, body = env_stack.named("aws_lambda_function", "authorizer/function")
    assert authorizer["type"] == "REQUEST"
    # Cached per credential and source address: a lockout of one address never answers for another.
    assert authorizer["identity_source"] == "method.request.header.Authorization, context.identity.sourceIp"
    assert function_environment(body)["AUTH_FAILURE_LIMIT"] == str(config.auth_failure_limit)
    assert function_environment(body)["AUTH_FAILURE_WINDOW_S"] == str(config.auth_failure_window_s)
    assert authorizer["rest_api_id"] == f"${{aws_api_gateway_rest_api.{rest_api}.id}}"
    assert authorizer["authorizer_uri"] == f"${{aws_lambda_function.{function}.invoke_arn}}"
    assert body["handler"] == "payment_processor.handler.authorizer"
    ttl = authorizer["authorizer_result_ttl_in_seconds"]
    assert ttl == config.api_authorizer_cache_s and 0 <= ttl <= MAX_AUTHORIZER_CACHE_S
    # Without credentials of its own, API Gateway calls the function through its resource policy.
    assert "authorizer_credentials" not in authorizer


def test_only_this_authorizer_may_invoke_the_authorizer_function(env_stack: Stack) -> None:
    rest_api, _ = env_stack.only("aws_api_gateway_rest_api")
    authorizer = _authorizer(env_stack)
    function, _ = env_stack.named("aws_lambda_function", "authorizer/function")
    (deployment,) = env_stack.resources("aws_api_gateway_deployment").values()
    permissions = {
        name: p
        for name, p in env_stack.resources("aws_lambda_permission").items()
        if refs(p["function_name"]) == {f"aws_lambda_function.{function}"}
    }
    ((name, permission),) = permissions.items()
    assert permission["action"] == "lambda:InvokeFunction" and permission["principal"] == "apigateway.amazonaws.com"
    # Not "<api>/*": a scope to this API's one authorizer, so no method or other authorizer can call it.
    assert permission["source_arn"] == (
        f"${{aws_api_gateway_rest_api.{rest_api}.execution_arn}}/authorizers/${{aws_api_gateway_authorizer.{authorizer}.id}}"
    )
    assert "statement_id" not in permission and permission["statement_id_prefix"]
    assert f"aws_lambda_permission.{name}" in deployment["depends_on"]


def test_gateway_responses_answer_in_the_api_error_shape(env_stack: Stack) -> None:
    rest_api, _ = env_stack.only("aws_api_gateway_rest_api")
    responses = {r["response_type"]: r for r in env_stack.resources("aws_api_gateway_gateway_response").values()}
    assert responses.keys() == GATEWAY_RESPONSES.keys()
    for response_type, (status, code, message, headers) in GATEWAY_RESPONSES.items():
        response = responses[response_type]
        assert response["rest_api_id"] == f"${{aws_api_gateway_rest_api.{rest_api}.id}}"
        assert response["status_code"] == str(status)
        assert json.loads(response["response_templates"]["application/json"]) == {
            "error": {"code": code, "message": message, "request_id": "$context.requestId"}
        }
        assert response.get("response_parameters", {}) == {
            f"gatewayresponse.header.{name}": f"'{value}'" for name, value in headers.items()
        }
    # A missing and a refused key are both 401 with a Bearer challenge (RFC 6750), never 403.
    assert responses["UNAUTHORIZED"]["status_code"] == "401"
    assert responses["UNAUTHORIZED"]["response_parameters"]["gatewayresponse.header.WWW-Authenticate"] == "'Bearer'"
    assert responses["ACCESS_DENIED"]["status_code"] == "401"
    assert responses["ACCESS_DENIED"]["response_parameters"]["gatewayresponse.header.WWW-Authenticate"].startswith(
        "'Bearer"
    )


def test_a_changed_gateway_response_redeploys_the_stage(env_stack: Stack) -> None:
    (deployment,) = env_stack.resources("aws_api_gateway_deployment").values()
    trigger = deployment["triggers"]["redeployment"]
    names = env_stack.resources("aws_api_gateway_gateway_response")
    assert len(names) == len(GATEWAY_RESPONSES)
    for name in names:
        assert f"aws_api_gateway_gateway_response.{name}" in deployment["depends_on"]
        assert f"aws_api_gateway_gateway_response.{name}.id" in trigger


def test_the_edge_limits_each_credential_on_its_authorization_header(env_stack: Stack) -> None:
    config = config_of(env_stack)
    acl_name, acl = env_stack.only("aws_wafv2_web_acl")
    # WAF's own rule for a web ACL name: 1 to 128 letters, digits, '-' and '_'.
    assert re.fullmatch(r"[\w-]{1,128}", acl["name"]), acl["name"]
    assert acl["scope"] == "REGIONAL" and acl["default_action"] == {"allow": {}}
    rules = {rule["name"]: rule for rule in acl["rule"]}
    assert sorted(rule["priority"] for rule in acl["rule"]) == [0, 1]
    rule = rules["per-credential-rate"]
    statement = rule["statement"]["rate_based_statement"]
    assert statement["aggregate_key_type"] == "CUSTOM_KEYS"
    # Every spelling of one key is one count: whitespace compressed, then lower-cased (issue 24, finding 2).
    transformations = [{"priority": 0, "type": "COMPRESS_WHITE_SPACE"}, {"priority": 1, "type": "LOWERCASE"}]
    assert statement["custom_key"] == [{"header": {"name": "authorization", "text_transformation": transformations}}]
    assert statement["limit"] == config.api_rate_limit_per_credential
    assert statement["evaluation_window_sec"] == config.api_rate_limit_window_s
    response = rule["action"]["block"]["custom_response"]
    assert response["response_code"] == 429
    assert response["response_header"] == [{"name": "Retry-After", "value": str(config.api_rate_limit_window_s)}]
    (body,) = [b for b in acl["custom_response_body"] if b["key"] == response["custom_response_body_key"]]
    assert body["content_type"] == "APPLICATION_JSON"
    assert json.loads(body["content"])["error"]["code"] == "rate_limited"
    # Sampled requests would keep copies of requests, Authorization headers included, for the console.
    assert rule["visibility_config"]["sampled_requests_enabled"] is False
    assert acl["visibility_config"]["sampled_requests_enabled"] is False
    stage, _ = env_stack.only("aws_api_gateway_stage")
    _, association = env_stack.only("aws_wafv2_web_acl_association")
    assert association["resource_arn"] == f"${{aws_api_gateway_stage.{stage}.arn}}"
    assert association["web_acl_arn"] == f"${{aws_wafv2_web_acl.{acl_name}.arn}}"


def test_the_edge_limits_failed_authentications_per_address_for_what_is_not_a_well_formed_key(env_stack: Stack) -> None:
    """The second rule counts, per connection address, only requests whose credential cannot authenticate (WAF can
    tell from its shape), and blocks only those: a neighbour's good key behind the same address passes."""
    config = config_of(env_stack)
    _, acl = env_stack.only("aws_wafv2_web_acl")
    (rule,) = [rule for rule in acl["rule"] if rule["name"] == "failed-authentications-per-address"]
    statement = rule["statement"]["rate_based_statement"]
    assert statement["aggregate_key_type"] == "IP", "the connection's address, never X-Forwarded-For"
    assert (statement["limit"], statement["evaluation_window_sec"]) == (
        config.auth_failure_limit,
        config.auth_failure_window_s,
    ), "the authorizer's bound for well-formed keys, the same numbers"
    regex = statement["scope_down_statement"]["not_statement"]["statement"]["regex_match_statement"]
    assert regex["field_to_match"] == {"single_header": {"name": "authorization"}}
    assert regex["text_transformation"] == [{"priority": 0, "type": "NONE"}]
    response = rule["action"]["block"]["custom_response"]
    assert response["response_code"] == 401
    assert {h["name"]: h["value"] for h in response["response_header"]} == {
        "WWW-Authenticate": "Bearer",
        "Retry-After": str(config.auth_failure_window_s),
    }
    (body,) = [b for b in acl["custom_response_body"] if b["key"] == response["custom_response_body_key"]]
    assert json.loads(body["content"])["error"]["code"] == "too_many_failed_authentications"
    assert rule["visibility_config"]["sampled_requests_enabled"] is False
    # The scope-down regex takes exactly what the authorizer would look up: every key it mints, in every
    # spelling of the scheme it accepts; and nothing it refuses by shape.
    well_formed = re.compile(regex["regex_string"])
    issued = [
        f"{kind}_{mode}_{secrets.token_urlsafe(40)[:43].replace('-', 'a').replace('_', 'b')}"
        for kind in ("sk", "rk")
        for mode in ("test", "live")
    ]
    for key in issued:
        for scheme in ("Bearer", "bearer", "BEARER", "bEaReR"):
            assert well_formed.search(f"{scheme} {key}"), f"{scheme} {key[:8]}..."
            assert bearer_token({"headers": {"Authorization": f"{scheme} {key}"}}) == key
            assert secret_shape(key) is not None
    malformed = [
        "",
        "Bearer",
        "Bearer ",
        f"Basic {issued[0]}",
        f"Bearer  {issued[0]}",
        f"Bearer {issued[0]} ",
        f" Bearer {issued[0]}",
        f"Bearer\t{issued[0]}",
        f"Bearer {issued[0][:-1]}",
        f"Bearer {issued[0]}x",
        f"Bearer pk_test_{'a' * 43}",
        f"Bearer sk_prod_{'a' * 43}",
        f"Bearer {issued[0][:-1]}-",
        f"Bearer {issued[0][:-1]}\u00e9",
        f"Token {issued[0]}",
    ]
    for value in malformed:
        assert not well_formed.search(value), repr(value)
        token = bearer_token({"headers": {"Authorization": value}})
        assert token is None or secret_shape(token) is None, repr(value)


def function_environment(body: dict[str, Any]) -> dict[str, str]:
    return dict(body["environment"]["variables"])
