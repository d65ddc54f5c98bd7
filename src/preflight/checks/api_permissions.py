"""Class 5: API Gateway may invoke the function behind every proxy integration, no invoke
permission is open to the whole service, and no method is callable without credentials. Without the
permission every request fails before reaching the function: "Execution failed due to configuration
error: Invalid permissions on Lambda function"."""

from __future__ import annotations

import re
from collections.abc import Iterator

from preflight.model import Configuration, Resource, Severity, is_literal, references
from preflight.policies import action_matches, canonical, glob_matches
from preflight.registry import Issue, check

API_GATEWAY = "apigateway.amazonaws.com"
#: Method authorization types that demand a credential; NONE (or nothing) serves anyone.
AUTHORIZED = ("AWS_IAM", "CUSTOM", "COGNITO_USER_POOLS")
#: The longest authorizer cache preflight accepts: API Gateway's default.
MAX_AUTHORIZER_TTL = 300


def resource_path(config: Configuration, resource_id: object) -> str | None:
    """The full path of an API Gateway resource (``/payments/{id}``), walking parent_id to the root."""
    parts: list[str] = []
    current = resource_id
    for _ in range(32):
        refs = config.referenced(current)
        if not refs:
            return None
        resource, attribute = refs[0]
        if resource.type == "aws_api_gateway_rest_api" and attribute == "root_resource_id":
            return "/" + "/".join(reversed(parts))
        if resource.type == "aws_api_gateway_method" and attribute == "resource_id":
            current = resource.get("resource_id")  # HCL often takes an integration's resource from its method
            continue
        if resource.type != "aws_api_gateway_resource":
            return None
        parts.append(str(resource.get("path_part")))
        current = resource.get("parent_id")
    return None


def _http_method(config: Configuration, value: object) -> str | None:
    if is_literal(value):
        return str(value)
    for method, attribute in config.referenced(value, "aws_api_gateway_method"):
        if attribute == "http_method" and is_literal(method.get("http_method")):
            return str(method.get("http_method"))
    return None


def _targets(config: Configuration, uri: object) -> list[Resource]:
    functions = [f for f, _ in config.referenced(uri, "aws_lambda_function")]
    if not functions and is_literal(uri):
        for function in config.of_type("aws_lambda_function"):
            name = function.get("function_name")
            if is_literal(name) and f":function:{name}/" in str(uri) + "/":
                functions.append(function)
    return functions


def _permits_function(config: Configuration, permission: Resource, function: Resource) -> bool:
    value = permission.get("function_name")
    if any(f is function for f, _ in config.referenced(value, "aws_lambda_function")):
        return True
    name = function.get("function_name")
    return is_literal(value) and is_literal(name) and (value == name or str(value).endswith(f":function:{name}"))


def _invoke_permissions(config: Configuration, function: Resource) -> list[Resource]:
    return [
        p
        for p in config.of_type("aws_lambda_permission")
        if p.get("principal") == API_GATEWAY
        and action_matches(str(p.get("action", "")), "lambda:InvokeFunction")
        and _permits_function(config, p, function)
    ]


@check(
    "PF501",
    title="Proxy integration without an invoke permission for its method",
    severity=Severity.ERROR,
    defect_class=5,
    prevents=("api-invoke-permission-missing",),
    rationale=(
        "API Gateway calls the function with the function's resource policy, not with IAM; without an "
        "aws_lambda_permission for apigateway.amazonaws.com whose source_arn covers the method, every request "
        "returns 500: 'Execution failed due to configuration error: Invalid permissions on Lambda function'."
    ),
    fix='add an aws_lambda_permission: principal "apigateway.amazonaws.com", action "lambda:InvokeFunction", '
    'source_arn "${<rest api>.execution_arn}/*/<METHOD>/<path>"',
)
def integration_without_permission(config: Configuration) -> Iterator[Issue]:
    """REST and HTTP API Lambda integrations no permission covers."""
    for integration in config.of_type("aws_api_gateway_integration"):
        if integration.get("type") not in ("AWS_PROXY", "AWS"):
            continue
        functions = _targets(config, integration.get("uri"))
        apis = [a for a, _ in config.referenced(integration.get("rest_api_id"), "aws_api_gateway_rest_api")]
        method = _http_method(config, integration.get("http_method")) or "*"
        path = resource_path(config, integration.get("resource_id")) or "/*"
        for function in functions:
            api = f"@{apis[0].address}.execution_arn" if apis else "*"
            probe = f"{api}/probe-stage/{method}{re.sub(r'{[^}]+}', 'probe', path)}"
            covering = [
                p
                for p in _invoke_permissions(config, function)
                if p.get("source_arn") is None or glob_matches(canonical(str(p.get("source_arn"))), probe)
            ]
            if not covering:
                yield Issue(
                    integration.address,
                    "uri",
                    f"API Gateway may not invoke {function.address} for {method} {path}: no aws_lambda_permission "
                    f"for {API_GATEWAY} with a source_arn covering it",
                )
    for integration in config.of_type("aws_apigatewayv2_integration"):
        if integration.get("integration_type") != "AWS_PROXY":
            continue
        apis = [a for a, _ in config.referenced(integration.get("api_id"), "aws_apigatewayv2_api")]
        for function in _targets(config, integration.get("integration_uri")):
            prefix = f"@{apis[0].address}.execution_arn/" if apis else ""
            if not any(
                p.get("source_arn") is None or canonical(str(p.get("source_arn"))).startswith(prefix)
                for p in _invoke_permissions(config, function)
            ):
                yield Issue(
                    integration.address,
                    "integration_uri",
                    f"API Gateway may not invoke {function.address}: no aws_lambda_permission for {API_GATEWAY}",
                )


@check(
    "PF502",
    title="Invoke permission for a service without source_arn",
    severity=Severity.ERROR,
    defect_class=5,
    rationale=(
        "A permission for a service principal without source_arn lets that service invoke the function on behalf of "
        "any account's API, rule or bucket (the confused-deputy problem AWS warns about in the Lambda resource "
        "policy documentation)."
    ),
    fix="set source_arn to the ARN of the API method, rule or bucket that should invoke the function",
)
def permission_without_source_arn(config: Configuration) -> Iterator[Issue]:
    """Service-principal permissions with no source_arn."""
    for permission in config.of_type("aws_lambda_permission"):
        principal = str(permission.get("principal", ""))
        if principal.endswith(".amazonaws.com") and not permission.get("source_arn"):
            yield Issue(permission.address, "source_arn", f"{principal} may invoke the function from any source")


def _integrations_of(config: Configuration, method: Resource) -> list[Resource]:
    """The REST integrations behind a method: same resource_id, same HTTP method."""
    return [
        integration
        for integration in config.of_type("aws_api_gateway_integration")
        if integration.get("resource_id") == method.get("resource_id")
        and _http_method(config, integration.get("http_method")) == method.get("http_method")
    ]


def _describe_method(config: Configuration, method: Resource) -> str:
    path = resource_path(config, method.get("resource_id")) or "<unknown path>"
    return f"{method.get('http_method')} {path}"


@check(
    "PF503",
    title="API method callable without credentials",
    severity=Severity.ERROR,
    defect_class=5,
    rationale=(
        "A method with authorization NONE runs its integration for anyone who knows the invoke URL, and "
        "execute-api URLs leak through client apps, logs and browser histories. api_key_required is no substitute: "
        "API keys identify callers for usage plans, and AWS's guide pairs them with a Lambda authorizer, IAM or "
        "Cognito to control access. A CORS preflight (OPTIONS with a MOCK integration) is exempt: browsers send it "
        "without credentials and it reaches no backend."
    ),
    fix='set authorization "CUSTOM" with authorizer_id "${aws_api_gateway_authorizer.<name>.id}", or "AWS_IAM"; '
    'for a deliberately public route, silence PF503 on the method: "//": {"preflight_skip": {"PF503": "why"}}',
)
def method_without_authorization(config: Configuration) -> Iterator[Issue]:
    """REST API methods whose authorization is NONE, unset or unknown, CORS preflights aside."""
    for method in config.of_type("aws_api_gateway_method"):
        authorization = method.get("authorization")
        if authorization in AUTHORIZED:
            continue
        if method.get("http_method") == "OPTIONS" and any(
            i.get("type") == "MOCK" for i in _integrations_of(config, method)
        ):
            continue  # CORS preflight: carries no credentials, calls no backend
        yield Issue(
            method.address,
            "authorization",
            f"{_describe_method(config, method)} has authorization {authorization or 'unset'}: anyone who knows the "
            "URL can call it",
        )


def _authorizer_problem(config: Configuration, method: Resource) -> str | None:
    authorization = method.get("authorization")
    value = method.get("authorizer_id")
    if not value:
        return f"authorization {authorization} names no authorizer_id"
    refs = references(value)
    if not refs:
        return None  # a literal id of an authorizer made outside this configuration
    authorizers = [a for a, _ in config.referenced(value, "aws_api_gateway_authorizer")]
    if not authorizers:
        return f"authorizer_id refers to {refs[0].address}, which is not an aws_api_gateway_authorizer here"
    authorizer = authorizers[0]
    kind = authorizer.get("type") or "TOKEN"
    if (kind == "COGNITO_USER_POOLS") != (authorization == "COGNITO_USER_POOLS"):
        return f"authorization {authorization} cannot use {authorizer.address}, an authorizer of type {kind}"
    if authorizer.get("rest_api_id") != method.get("rest_api_id"):
        return f"{authorizer.address} belongs to another REST API ({authorizer.get('rest_api_id')})"
    return None


@check(
    "PF504",
    title="API method names no usable authorizer",
    severity=Severity.ERROR,
    defect_class=5,
    rationale=(
        "An authorizer id is only valid within its own REST API and for its kind (TOKEN or REQUEST for CUSTOM, "
        "COGNITO_USER_POOLS for Cognito); otherwise the apply fails with 'BadRequestException: Invalid authorizer ID "
        "specified. Setting the authorization type to CUSTOM or COGNITO_USER_POOLS requires a valid authorizer.'"
    ),
    fix='set authorizer_id "${aws_api_gateway_authorizer.<name>.id}" of an authorizer of the same rest_api_id, '
    "of type TOKEN or REQUEST for CUSTOM, COGNITO_USER_POOLS for COGNITO_USER_POOLS",
)
def method_without_usable_authorizer(config: Configuration) -> Iterator[Issue]:
    """CUSTOM and COGNITO_USER_POOLS methods whose authorizer_id is missing or not an authorizer of their API."""
    for method in config.of_type("aws_api_gateway_method"):
        if method.get("authorization") not in ("CUSTOM", "COGNITO_USER_POOLS"):
            continue
        problem = _authorizer_problem(config, method)
        if problem:
            yield Issue(method.address, "authorizer_id", f"{_describe_method(config, method)}: {problem}")


@check(
    "PF505",
    title="Lambda authorizer caches its decision too long",
    severity=Severity.WARNING,
    defect_class=5,
    rationale=(
        "API Gateway caches a TOKEN or REQUEST authorizer's policy for authorizer_result_ttl_in_seconds (up to "
        "3600 s) per identity source: a revoked token or a disabled caller keeps being let in until the cache "
        f"expires. {MAX_AUTHORIZER_TTL} s is API Gateway's default."
    ),
    fix=f"set authorizer_result_ttl_in_seconds to {MAX_AUTHORIZER_TTL} or less (0 turns the cache off)",
)
def authorizer_cached_too_long(config: Configuration) -> Iterator[Issue]:
    """Lambda authorizers whose result cache outlives the default."""
    for authorizer in config.of_type("aws_api_gateway_authorizer"):
        if (authorizer.get("type") or "TOKEN") not in ("TOKEN", "REQUEST"):
            continue
        ttl = str(authorizer.get("authorizer_result_ttl_in_seconds", MAX_AUTHORIZER_TTL))
        if ttl.isdecimal() and int(ttl) > MAX_AUTHORIZER_TTL:  # isdigit() admits "3²", which int() refuses
            yield Issue(
                authorizer.address,
                "authorizer_result_ttl_in_seconds",
                f"caches each decision for {ttl} s: a revoked credential still works that long",
            )
