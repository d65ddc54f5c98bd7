"""PF501-PF505 (``preflight.checks.api_permissions``): API Gateway's invoke permissions and method
authorization, on the project's stacks and on configurations written the way HCL projects write them."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from preflight.checks.api_permissions import resource_path
from preflight.loader import from_document
from preflight.model import Configuration
from preflight.runner import check_files, run
from tests.preflight.checks.cases import DELETE, Case, reports_exactly, set_attributes
from tests.preflight.conftest import Fixture
from tests.preflight.mutations import (
    AUTHORIZER,
    Document,
    add_resource,
    address,
    authorize_every_method,
    failing,
    findings,
    lambda_function,
    named,
    reference,
)


def _permission_changed(method: str, **changes: object) -> Callable[[Document], set[str]]:
    """Change the API permission of one method; the other method's integration stays covered."""

    def mutate(doc: Document) -> set[str]:
        _, body = named(
            doc, "aws_lambda_permission", f"api/{'post-payments' if method == 'POST' else 'get-payment'}-permission"
        )
        api, _ = named(doc, "aws_api_gateway_rest_api", "api/rest-api")
        for key, value in changes.items():
            if value is DELETE:
                body.pop(key, None)
            else:
                body[key] = str(value).replace("<api>", api)
        integration, _ = named(
            doc,
            "aws_api_gateway_integration",
            f"api/{'post-payments' if method == 'POST' else 'get-payment'}-integration",
        )
        return {address("aws_api_gateway_integration", integration)}

    return mutate


def _delete_permission(part: str) -> Callable[[Document], set[str]]:
    """Delete the API permission of one route (``post-payments``, ``capture-payment``, ...)."""

    def mutate(doc: Document) -> set[str]:
        name, _ = named(doc, "aws_lambda_permission", f"api/{part}-permission")
        del doc["resource"]["aws_lambda_permission"][name]
        for deployment in doc["resource"]["aws_api_gateway_deployment"].values():
            deployment["depends_on"].remove(address("aws_lambda_permission", name))
        integration, _ = named(doc, "aws_api_gateway_integration", f"api/{part}-integration")
        return {address("aws_api_gateway_integration", integration)}

    return mutate


def _method_changed(path_end: str, **changes: object) -> Callable[[Document], set[str]]:
    return lambda doc: set_attributes(doc, "aws_api_gateway_method", f"api/{path_end}-method", **changes)


def _authorizer_is_the_api(doc: Document) -> set[str]:
    api, _ = named(doc, "aws_api_gateway_rest_api", "api/rest-api")
    return _method_changed("post-payments", authorizer_id=f"${{aws_api_gateway_rest_api.{api}.id}}")(doc)


def _authorizer_ttl(doc: Document) -> set[str]:
    doc["resource"]["aws_api_gateway_authorizer"][AUTHORIZER]["authorizer_result_ttl_in_seconds"] = 3600
    return {address("aws_api_gateway_authorizer", AUTHORIZER)}


CASES = [
    Case("PF501", "no permission for POST (api-invoke-permission-missing)", "dev", _delete_permission("post-payments")),
    Case("PF501", "no permission for a nested route", "dev", _delete_permission("capture-payment")),
    Case("PF501", "no permission for a second top-level resource", "dev", _delete_permission("list-events")),
    Case(
        "PF501",
        "GET permission scoped to POST",
        "dev",
        _permission_changed("GET", source_arn="${aws_api_gateway_rest_api.<api>.execution_arn}/*/POST/payments"),
    ),
    Case(
        "PF501",
        "permission for another API",
        "dev",
        _permission_changed("POST", source_arn="arn:aws:execute-api:us-east-1:123456789012:otherapi/*/POST/payments"),
    ),
    Case(
        "PF502",
        "permission without source_arn",
        "dev",
        lambda d: set_attributes(d, "aws_lambda_permission", "reconcile-permission", source_arn=DELETE),
    ),
    Case(
        "PF503",
        "method open to anyone",
        "dev",
        _method_changed("post-payments", authorization="NONE", authorizer_id=DELETE),
        authorize_every_method,
    ),
    Case(
        "PF503",
        "authorization unset",
        "dev",
        _method_changed("get-payment", authorization=DELETE, authorizer_id=DELETE),
        authorize_every_method,
    ),
    Case(
        "PF504",
        "CUSTOM without authorizer_id",
        "dev",
        _method_changed("get-payment", authorizer_id=DELETE),
        authorize_every_method,
    ),
    Case("PF504", "authorizer_id of the API itself", "dev", _authorizer_is_the_api, authorize_every_method),
    Case("PF505", "authorizer cached for an hour", "dev", _authorizer_ttl, authorize_every_method),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly_the_mutated_resources(stacks: dict[str, Fixture], case: Case) -> None:
    reports_exactly(stacks, case)


def _integration(doc: Document, part: str) -> tuple[str, dict[str, Any]]:
    name, body = named(doc, "aws_api_gateway_integration", f"api/{part}-integration")
    return address("aws_api_gateway_integration", name), body


def _permission(doc: Document, part: str) -> tuple[str, dict[str, Any]]:
    name, body = named(doc, "aws_lambda_permission", f"api/{part}-permission")
    return name, body


def _api_resources(**parents: str) -> Configuration:
    """A REST API with resources ``name -> parent_id``; each resource's path_part is its name."""
    resources = {name: {"path_part": name, "parent_id": parent} for name, parent in parents.items()}
    return from_document(
        {"resource": {"aws_api_gateway_rest_api": {"api": {"name": "a"}}, "aws_api_gateway_resource": resources}},
        Path("x.tf.json"),
    )


ROOT = "${aws_api_gateway_rest_api.api.root_resource_id}"


@pytest.mark.parametrize(
    ("parents", "resource_id", "expected"),
    [
        (
            {"payments": ROOT, "id": "${aws_api_gateway_resource.payments.id}"},
            "${aws_api_gateway_resource.id.id}",
            "/payments/id",
        ),
        ({}, ROOT, "/"),
        ({}, "a1b2c3", None),
        # the API's id is not its root resource's id
        ({"payments": "${aws_api_gateway_rest_api.api.id}"}, "${aws_api_gateway_resource.payments.id}", None),
        (
            {"a": "${aws_api_gateway_resource.b.id}", "b": "${aws_api_gateway_resource.a.id}"},
            "${aws_api_gateway_resource.a.id}",
            None,
        ),
    ],
    ids=["nested", "root", "literal", "api-id-as-parent", "cycle"],
)
def test_resource_path_walks_parents_to_the_root(
    parents: dict[str, str], resource_id: str, expected: str | None
) -> None:
    assert resource_path(_api_resources(**parents), resource_id) == expected


def test_an_integration_on_an_unresolvable_resource_needs_a_permission_for_every_path(dev: Fixture) -> None:
    doc = dev.document()
    get, integration = _integration(doc, "get-payment")
    integration["resource_id"] = "a1b2c3"  # an API resource created outside this configuration
    assert failing(doc, dev.path, "PF501") == {get}, "GET .../payments/* does not cover an unknown path"
    _, permission = _permission(doc, "get-payment")
    permission["source_arn"] = reference(doc, "aws_api_gateway_rest_api", "api/rest-api", "execution_arn") + "/*/GET/*"
    assert failing(doc, dev.path, "PF501") == set()


def test_a_nested_route_is_covered_by_its_own_permission_or_a_wider_one(dev: Fixture) -> None:
    doc = dev.document()
    refunds, _ = _integration(doc, "list-refunds")
    get, _ = _integration(doc, "get-payment")
    for part in ("list-refunds", "get-payment"):
        name, _ = _permission(doc, part)
        del doc["resource"]["aws_lambda_permission"][name]
        if part == "list-refunds":
            # .../GET/payments/* covers GET /payments/{id}/refunds too: in a source_arn, as in IAM's ArnLike,
            # "*" spans "/".
            assert failing(doc, dev.path, "PF501") == set()
    assert failing(doc, dev.path, "PF501") == {refunds, get}


def test_a_literal_http_method_is_taken_as_written(dev: Fixture) -> None:
    doc = dev.document()
    get, integration = _integration(doc, "get-payment")
    integration["http_method"] = "GET"
    assert failing(doc, dev.path, "PF501") == set()
    integration["http_method"] = "DELETE"  # no permission covers DELETE /payments/{id}
    assert failing(doc, dev.path, "PF501") == {get}


def test_an_unknown_http_method_needs_a_permission_for_every_method(dev: Fixture) -> None:
    doc = dev.document()
    get, integration = _integration(doc, "get-payment")
    # A method reference that is not its http_method: preflight cannot tell the method.
    integration["http_method"] = reference(doc, "aws_api_gateway_method", "api/get-payment-method", "id")
    assert failing(doc, dev.path, "PF501") == {get}
    _, permission = _permission(doc, "get-payment")
    permission["source_arn"] = (
        reference(doc, "aws_api_gateway_rest_api", "api/rest-api", "execution_arn") + "/*/*/payments/*"
    )
    assert failing(doc, dev.path, "PF501") == set()


def test_a_literal_integration_uri_is_matched_to_the_function_by_name(dev: Fixture) -> None:
    doc = dev.document()
    post, integration = _integration(doc, "post-payments")
    _, function = lambda_function(doc, "processor")
    integration["uri"] = (
        "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
        f"arn:aws:lambda:us-east-1:123456789012:function:{function['function_name']}/invocations"
    )
    assert failing(doc, dev.path, "PF501") == set()
    name, _ = _permission(doc, "post-payments")
    del doc["resource"]["aws_lambda_permission"][name]
    assert failing(doc, dev.path, "PF501") == {post}, "the literal URI still names the processor"


@pytest.mark.parametrize("form", ["name", "arn"])
def test_a_permission_may_name_its_function_literally(dev: Fixture, form: str) -> None:
    doc = dev.document()
    post, _ = _integration(doc, "post-payments")
    _, permission = _permission(doc, "post-payments")
    _, processor = lambda_function(doc, "processor")
    _, deliver = lambda_function(doc, "reconcile")

    def literal(name: str) -> str:
        return name if form == "name" else f"arn:aws:lambda:us-east-1:123456789012:function:{name}"

    permission["function_name"] = literal(processor["function_name"])
    assert failing(doc, dev.path, "PF501") == set()
    permission["function_name"] = literal(deliver["function_name"])
    assert failing(doc, dev.path, "PF501") == {post}


def test_integrations_that_do_not_call_lambda_need_no_permission(dev: Fixture) -> None:
    doc = dev.document()
    get, integration = _integration(doc, "get-payment")
    name, _ = _permission(doc, "get-payment")
    del doc["resource"]["aws_lambda_permission"][name]
    assert failing(doc, dev.path, "PF501") == {get}
    integration["type"] = "HTTP_PROXY"
    assert failing(doc, dev.path, "PF501") == set()


def _http_api(doc: Document) -> str:
    """Add an HTTP API (v2) with a proxy integration to the processor; returns the integration address."""
    add_resource(doc, "aws_apigatewayv2_api", "http", {"name": "payment-http-dev-pr42", "protocol_type": "HTTP"})
    return add_resource(
        doc,
        "aws_apigatewayv2_integration",
        "proxy",
        {
            "api_id": "${aws_apigatewayv2_api.http.id}",
            "integration_type": "AWS_PROXY",
            "integration_uri": reference(doc, "aws_lambda_function", "processor/function", "invoke_arn"),
        },
    )


def test_an_http_api_needs_a_permission_scoped_to_that_api(dev: Fixture) -> None:
    doc = dev.document()
    integration = _http_api(doc)
    assert failing(doc, dev.path, "PF501") == {integration}, "the REST API's permissions do not cover the HTTP API"
    add_resource(
        doc,
        "aws_lambda_permission",
        "http",
        {
            "action": "lambda:InvokeFunction",
            "function_name": reference(doc, "aws_lambda_function", "processor/function", "function_name"),
            "principal": "apigateway.amazonaws.com",
            "source_arn": "${aws_apigatewayv2_api.http.execution_arn}/*/*",
        },
    )
    assert failing(doc, dev.path, "PF501") == set()


def test_an_http_api_integration_is_judged_only_when_it_proxies_to_lambda(dev: Fixture) -> None:
    doc = dev.document()
    integration = _http_api(doc)
    body = doc["resource"]["aws_apigatewayv2_integration"]["proxy"]
    body["api_id"] = "a1b2c3"  # an API outside this configuration: any API Gateway permission counts
    assert failing(doc, dev.path, "PF501") == set()
    body["api_id"] = "${aws_apigatewayv2_api.http.id}"
    assert failing(doc, dev.path, "PF501") == {integration}
    body["integration_type"] = "HTTP_PROXY"
    assert failing(doc, dev.path, "PF501") == set()


# Method authorization: each test first puts every method behind an authorizer of its own, whatever the
# project's methods use today, then sets the one state it is about.


def _authorized(dev: Fixture) -> Document:
    doc = dev.document()
    authorize_every_method(doc)
    assert {f.check_id for f in findings(doc, dev.path)} & {"PF503", "PF504", "PF505"} == set()
    return doc


def _method(doc: Document, part: str) -> tuple[str, dict[str, Any]]:
    name, body = named(doc, "aws_api_gateway_method", f"api/{part}-method")
    return address("aws_api_gateway_method", name), body


def test_a_deliberately_public_route_is_silenced_by_a_reasoned_skip(dev: Fixture) -> None:
    doc = _authorized(dev)
    get, method = _method(doc, "get-payment")
    method["authorization"] = "NONE"
    del method["authorizer_id"]
    found = [(f.resource, f.attribute, f.message) for f in findings(doc, dev.path) if f.check_id == "PF503"]
    message = "GET /payments/{id} has authorization NONE: anyone who knows the URL can call it"
    assert found == [(get, "authorization", message)]
    method["//"]["preflight_skip"] = {"PF503": "public"}
    assert failing(doc, dev.path, "PF503") == {get}, "a silence without a reason is ignored"
    assert failing(doc, dev.path, "PF000") == {get}
    method["//"]["preflight_skip"] = {"PF503": "payment status page linked from receipts, ids are unguessable"}
    assert failing(doc, dev.path, "PF503") == set()
    assert failing(doc, dev.path, "PF000") == set()
    post, other = _method(doc, "post-payments")
    other["authorization"] = "NONE"
    assert failing(doc, dev.path, "PF503") == {post}, "the silence is the GET method's alone"


def test_iam_authorization_protects_a_method_without_an_authorizer(dev: Fixture) -> None:
    doc = _authorized(dev)
    _, method = _method(doc, "post-payments")
    method["authorization"] = "AWS_IAM"
    del method["authorizer_id"]
    assert failing(doc, dev.path, "PF503") == set()
    assert failing(doc, dev.path, "PF504") == set()


@pytest.mark.parametrize(
    ("http_method", "integration", "same_resource", "reported"),
    [
        ("OPTIONS", "MOCK", True, False),
        ("OPTIONS", "AWS_PROXY", True, True),
        ("OPTIONS", None, True, True),
        ("OPTIONS", "MOCK", False, True),
        ("GET", "MOCK", True, True),
    ],
    ids=[
        "cors-preflight",
        "options-proxied-to-lambda",
        "options-without-integration",
        "mock-of-another-resource",
        "get-answered-by-mock",
    ],
)
def test_only_a_cors_preflight_answered_by_mock_may_be_open(
    dev: Fixture, http_method: str, integration: str | None, same_resource: bool, reported: bool
) -> None:
    doc = _authorized(dev)
    _, post = _method(doc, "post-payments")
    _, get = _method(doc, "get-payment")
    added = add_resource(
        doc,
        "aws_api_gateway_method",
        "open",
        {
            "rest_api_id": post["rest_api_id"],
            "resource_id": post["resource_id"],
            "http_method": http_method,
            "authorization": "NONE",
        },
    )
    if integration is not None:
        add_resource(
            doc,
            "aws_api_gateway_integration",
            "open",
            {
                "rest_api_id": post["rest_api_id"],
                "resource_id": (post if same_resource else get)["resource_id"],
                "http_method": "${aws_api_gateway_method.open.http_method}",
                "type": integration,
            },
        )
    assert failing(doc, dev.path, "PF503") == ({added} if reported else set())


def test_a_cognito_method_needs_a_cognito_authorizer_and_a_custom_one_a_lambda_authorizer(dev: Fixture) -> None:
    doc = _authorized(dev)
    post, method = _method(doc, "post-payments")
    get, _ = _method(doc, "get-payment")
    method["authorization"] = "COGNITO_USER_POOLS"
    assert failing(doc, dev.path, "PF504") == {post}, "the authorizer is a REQUEST (Lambda) authorizer"
    authorizer = doc["resource"]["aws_api_gateway_authorizer"][AUTHORIZER]
    authorizer["type"] = "COGNITO_USER_POOLS"
    authorizer["provider_arns"] = ["arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_probe"]
    del authorizer["authorizer_uri"]
    found = {f.resource: f.message for f in findings(doc, dev.path) if f.check_id == "PF504"}
    every = {address("aws_api_gateway_method", name) for name in doc["resource"]["aws_api_gateway_method"]}
    assert found.keys() == every - {post}, "every method still CUSTOM"
    assert found[get] == (
        f"GET /payments/{{id}}: authorization CUSTOM cannot use aws_api_gateway_authorizer.{AUTHORIZER}, an "
        "authorizer of type COGNITO_USER_POOLS"
    )
    assert failing(doc, dev.path, "PF503") == set(), "both methods still demand a credential"


def test_an_authorizer_of_another_api_is_not_usable(dev: Fixture) -> None:
    doc = _authorized(dev)
    add_resource(doc, "aws_api_gateway_rest_api", "other", {"name": "payment-other-api-dev-pr42"})
    doc["resource"]["aws_api_gateway_authorizer"][AUTHORIZER]["rest_api_id"] = "${aws_api_gateway_rest_api.other.id}"
    assert failing(doc, dev.path, "PF504") == {
        address("aws_api_gateway_method", name) for name in doc["resource"]["aws_api_gateway_method"]
    }


@pytest.mark.parametrize(
    ("authorizer_id", "reported"),
    [("a1b2c3", False), ("${var.authorizer_id}", False), ("${aws_api_gateway_authorizer.elsewhere.id}", True)],
    ids=["literal-id", "variable", "undeclared-authorizer"],
)
def test_an_authorizer_id_is_judged_only_when_it_refers_to_a_resource(
    dev: Fixture, authorizer_id: str, reported: bool
) -> None:
    doc = _authorized(dev)
    _, method = _method(doc, "post-payments")
    method["authorizer_id"] = authorizer_id
    found = [f.message for f in findings(doc, dev.path) if f.check_id == "PF504"]
    expected = (
        "POST /payments: authorizer_id refers to aws_api_gateway_authorizer.elsewhere, which is not an "
        "aws_api_gateway_authorizer here"
    )
    assert found == ([expected] if reported else [])


@pytest.mark.parametrize(
    ("kind", "ttl", "reported"),
    [
        ("REQUEST", 3600, True),
        (None, "600", True),
        ("TOKEN", 0, False),
        ("REQUEST", None, False),
        ("REQUEST", "${var.authorizer_ttl}", False),
        ("COGNITO_USER_POOLS", 3600, False),
    ],
    ids=["request-hour", "token-by-default-as-string", "cache-off", "default-ttl", "computed", "cognito"],
)
def test_only_a_lambda_authorizer_cached_beyond_the_default_is_reported(
    dev: Fixture, kind: str | None, ttl: object, reported: bool
) -> None:
    doc = _authorized(dev)
    authorizer = doc["resource"]["aws_api_gateway_authorizer"][AUTHORIZER]
    for key, value in (("type", kind), ("authorizer_result_ttl_in_seconds", ttl)):
        if value is None:
            del authorizer[key]
        else:
            authorizer[key] = value
    expected = {address("aws_api_gateway_authorizer", AUTHORIZER)} if reported else set()
    assert failing(doc, dev.path, "PF505") == expected


# Terraform JSON written the way HCL projects write it (short names, resources taken from each other's
# attributes), not the way CDK for Terraform does.
API = "${aws_api_gateway_rest_api.api.id}"


def _api(integration_resource: str, permission_path: str) -> dict[str, Any]:
    return {
        "resource": {
            "aws_api_gateway_rest_api": {"api": {"name": "svc-api-pr1"}},
            "aws_api_gateway_resource": {
                "items": {
                    "rest_api_id": API,
                    "parent_id": "${aws_api_gateway_rest_api.api.root_resource_id}",
                    "path_part": "items",
                }
            },
            "aws_api_gateway_method": {
                "get": {
                    "rest_api_id": API,
                    "resource_id": "${aws_api_gateway_resource.items.id}",
                    "http_method": "GET",
                    "authorization": "AWS_IAM",
                }
            },
            "aws_api_gateway_integration": {
                "get": {
                    "rest_api_id": API,
                    "resource_id": integration_resource,
                    "http_method": "${aws_api_gateway_method.get.http_method}",
                    "type": "AWS_PROXY",
                    "uri": "${aws_lambda_function.f.invoke_arn}",
                }
            },
            "aws_lambda_function": {"f": {"function_name": "svc-f-pr1", "image_uri": "registry/svc:1"}},
            "aws_lambda_permission": {
                "apigw": {
                    "function_name": "${aws_lambda_function.f.function_name}",
                    "action": "lambda:InvokeFunction",
                    "principal": "apigateway.amazonaws.com",
                    "source_arn": f"${{aws_api_gateway_rest_api.api.execution_arn}}/*/GET{permission_path}",
                }
            },
        }
    }


@pytest.mark.parametrize(
    "integration_resource", ["${aws_api_gateway_resource.items.id}", "${aws_api_gateway_method.get.resource_id}"]
)
@pytest.mark.parametrize(("permission_path", "covered"), [("/items", True), ("/other", False)])
def test_an_integration_taking_its_resource_from_the_method_is_matched_to_its_path(
    integration_resource: str, permission_path: str, covered: bool
) -> None:
    config = from_document(_api(integration_resource, permission_path), Path("main.tf.json"), suffix="pr1")
    uncovered = {f.resource for f in run(config) if f.check_id == "PF501"}
    assert uncovered == (set() if covered else {"aws_api_gateway_integration.get"})


def _file(folder: Path, document: Mapping[str, object]) -> Path:
    folder.mkdir()
    path = folder / "main.tf.json"
    path.write_text(json.dumps(document))
    return path


def test_a_ttl_of_unicode_digits_is_not_judged_and_does_not_crash(tmp_path: Path) -> None:
    """ "3²".isdigit() is True, and int() refuses it: PF505 must look at decimal strings only."""
    authorizer = {"rest_api_id": "x", "authorizer_uri": "y", "type": "REQUEST"}
    for ttl, expected in (("3²", set()), ("301", {"PF505"}), ("300", set())):
        path = _file(
            tmp_path / f"ttl-{ttl}",
            {
                "resource": {
                    "aws_api_gateway_authorizer": {"a": {**authorizer, "authorizer_result_ttl_in_seconds": ttl}}
                }
            },
        )
        report = check_files([path], suffix="pr1")
        assert report.crashes == ()
        assert {f.check_id for f in report.findings if f.check_id == "PF505"} == expected, ttl
