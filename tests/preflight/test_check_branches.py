"""The less common shapes each check must understand, on the project's own stacks: a grant written
another way, an API identified by a literal, a legacy inline block. Each test first shows the check
reporting the defect (or the stack passing), then the exact set of resources after the change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preflight.checks.api_permissions import resource_path
from preflight.loader import from_document
from preflight.model import Configuration
from tests.preflight.conftest import Fixture
from tests.preflight.mutations import (
    AUTHORIZER,
    Document,
    address,
    authorize_every_method,
    drop_statement,
    failing,
    findings,
    master_secret,
    named,
    policy_statements,
    use_application_secret,
)


@pytest.fixture
def dev(stacks: dict[str, Fixture]) -> Fixture:
    """The dev platform stack: four functions (processor and delivery job sharing one role, the authorizer
    and the admin function each with their own) behind one REST API, in a VPC, with a KMS key."""
    return stacks["dev"]


def _function(doc: Document, which: str) -> tuple[str, dict[str, Any]]:
    """``which`` is "processor", "reconcile", "authorizer" or "admin"; returns (address, body)."""
    name, body = named(doc, "aws_lambda_function", f"{which}/function")
    return address("aws_lambda_function", name), body


def _ref(doc: Document, kind: str, path_end: str, attribute: str) -> str:
    name, _ = named(doc, kind, path_end)
    return f"${{{kind}.{name}.{attribute}}}"


def _add(doc: Document, kind: str, name: str, body: dict[str, Any]) -> str:
    doc["resource"].setdefault(kind, {})[name] = body
    return address(kind, name)


def _grants(doc: Document) -> dict[str, Any]:
    """The processor's policy document (the data source the customer-managed policy renders)."""
    _, body = named(doc, "aws_iam_policy_document", "function-role/grants", section="data")
    return body


def _both(doc: Document) -> set[str]:
    """The processor and its delivery job: the functions running as the processor's role."""
    return {_function(doc, "processor")[0], _function(doc, "reconcile")[0]}


# --- Class 5: API Gateway invoke permissions ---------------------------------------------------


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
    permission["source_arn"] = _ref(doc, "aws_api_gateway_rest_api", "api/rest-api", "execution_arn") + "/*/GET/*"
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
    integration["http_method"] = _ref(doc, "aws_api_gateway_method", "api/get-payment-method", "id")
    assert failing(doc, dev.path, "PF501") == {get}
    _, permission = _permission(doc, "get-payment")
    permission["source_arn"] = (
        _ref(doc, "aws_api_gateway_rest_api", "api/rest-api", "execution_arn") + "/*/*/payments/*"
    )
    assert failing(doc, dev.path, "PF501") == set()


def test_a_literal_integration_uri_is_matched_to_the_function_by_name(dev: Fixture) -> None:
    doc = dev.document()
    post, integration = _integration(doc, "post-payments")
    _, function = _function(doc, "processor")
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
    _, processor = _function(doc, "processor")
    _, deliver = _function(doc, "reconcile")

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
    _add(doc, "aws_apigatewayv2_api", "http", {"name": "payment-http-dev-pr42", "protocol_type": "HTTP"})
    return _add(
        doc,
        "aws_apigatewayv2_integration",
        "proxy",
        {
            "api_id": "${aws_apigatewayv2_api.http.id}",
            "integration_type": "AWS_PROXY",
            "integration_uri": _ref(doc, "aws_lambda_function", "processor/function", "invoke_arn"),
        },
    )


def test_an_http_api_needs_a_permission_scoped_to_that_api(dev: Fixture) -> None:
    doc = dev.document()
    integration = _http_api(doc)
    assert failing(doc, dev.path, "PF501") == {integration}, "the REST API's permissions do not cover the HTTP API"
    _add(
        doc,
        "aws_lambda_permission",
        "http",
        {
            "action": "lambda:InvokeFunction",
            "function_name": _ref(doc, "aws_lambda_function", "processor/function", "function_name"),
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


# --- Class 5: method authorization ------------------------------------------------------------
# Each test first puts every method behind an authorizer of its own, whatever the project's methods
# use today, then sets the one state it is about.


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
    added = _add(
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
        _add(
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
    _add(doc, "aws_api_gateway_rest_api", "other", {"name": "payment-other-api-dev-pr42"})
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


# --- Class 6: API deployment and stage ---------------------------------------------------------


def test_a_stage_of_another_api_cannot_use_this_deployment(dev: Fixture) -> None:
    doc = dev.document()
    stage_name, stage = named(doc, "aws_api_gateway_stage", "api/stage")
    _add(doc, "aws_api_gateway_rest_api", "other", {"name": "payment-other-api-dev-pr42"})
    stage["rest_api_id"] = "${aws_api_gateway_rest_api.other.id}"
    assert failing(doc, dev.path, "PF604") == {address("aws_api_gateway_stage", stage_name)}
    stage["rest_api_id"] = "a1b2c3"  # an API from outside: still not the deployment's API
    assert failing(doc, dev.path, "PF604") == {address("aws_api_gateway_stage", stage_name)}


# --- Class 3: database -------------------------------------------------------------------------


def test_serverless_v1_clusters_are_always_encrypted(dev: Fixture) -> None:
    doc = dev.document()
    cluster = _add(
        doc,
        "aws_rds_cluster",
        "aurora",
        {"cluster_identifier": "payment-aurora-dev-pr42", "engine": "aurora-postgresql", "engine_mode": "serverless"},
    )
    assert failing(doc, dev.path, "PF303") == set()
    doc["resource"]["aws_rds_cluster"]["aurora"]["engine_mode"] = "provisioned"
    assert failing(doc, dev.path, "PF303") == {cluster}


# --- Class 2: IAM ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sid", "check_id"),
    [("WriteTransactionEvents", "PF201"), ("AttachToPrivateSubnets", "PF203"), ("WriteOwnLogs", "PF204")],
)
def test_a_function_whose_role_is_outside_the_configuration_is_not_judged(
    dev: Fixture, sid: str, check_id: str
) -> None:
    doc = dev.document()
    drop_statement(doc, sid)
    assert failing(doc, dev.path, check_id) == _both(doc)
    _, processor = _function(doc, "processor")
    processor["role"] = "arn:aws:iam::123456789012:role/shared-lambda-role"  # its policies cannot be seen
    assert failing(doc, dev.path, check_id) == {_function(doc, "reconcile")[0]}


# The database master secret (PF206): each test first gives the functions an application user's
# secret, whatever the project's functions use today, then sets the one state it is about.


def _application_secret(dev: Fixture) -> Document:
    doc = dev.document()
    use_application_secret(doc)
    assert failing(doc, dev.path, "PF206") == set()
    assert failing(doc, dev.path, "PF201") == set(), "the application secret is granted"
    return doc


def _admin_function(doc: Document) -> str:
    """The admin function (migrations, key management): a role of its own whose inline policy reads the
    master secret, and the master secret in its environment."""
    _, role = named(doc, "aws_iam_role", "function-role/role")
    _add(doc, "aws_iam_role", "admin", {**role, "name": "payment-admin-dev-pr42"})
    statement = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": master_secret(doc)}
    _add(
        doc,
        "aws_iam_role_policy",
        "admin",
        {"role": "${aws_iam_role.admin.id}", "policy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})},
    )
    _, processor = _function(doc, "processor")
    admin = json.loads(json.dumps(processor))
    admin.update(function_name="payment-admin-dev-pr42", role="${aws_iam_role.admin.arn}")
    admin["environment"]["variables"]["DB_SECRET_ARN"] = master_secret(doc)
    return _add(doc, "aws_lambda_function", "admin", admin)


def _grant_reading(doc: Document, *resources: str) -> None:
    """Grant the processor's and delivery job's role secretsmanager:GetSecretValue on ``resources``."""
    _grants(doc)["statement"].append(
        {"sid": "ReadMore", "effect": "Allow", "actions": ["secretsmanager:GetSecretValue"], "resources": [*resources]}
    )


def test_the_admin_function_keeps_the_master_secret_with_a_reasoned_silence(dev: Fixture) -> None:
    doc = _application_secret(dev)
    admin = _admin_function(doc)
    database, _ = named(doc, "aws_db_instance", "database/instance")
    found = {(f.resource, f.attribute, f.message) for f in findings(doc, dev.path) if f.check_id == "PF206"}
    assert found == {
        (
            admin,
            "environment.variables.DB_SECRET_ARN",
            f"DB_SECRET_ARN is the RDS-managed master user secret of aws_db_instance.{database}: the function "
            "connects as the master user",
        ),
        (
            admin,
            "role",
            f"role aws_iam_role.admin may read the RDS-managed master user secret of aws_db_instance.{database}: "
            "aws_iam_role_policy.admin allows secretsmanager:GetSecretValue on it",
        ),
    }
    doc["resource"]["aws_lambda_function"]["admin"]["//"] = {
        "preflight_skip": {"PF206": "runs the migrations and rotates the application user's password"}
    }
    assert failing(doc, dev.path, "PF206") == set()
    processor, body = _function(doc, "processor")
    body["environment"]["variables"]["DB_SECRET_ARN"] = master_secret(doc)
    assert failing(doc, dev.path, "PF206") == {processor}, "the silence is the admin function's alone"


def test_the_projects_admin_function_is_reported_only_without_its_reasoned_silence(dev: Fixture) -> None:
    """The real stack: the admin function alone uses the master secret, and its silence is all that passes it."""
    doc = dev.document()
    assert failing(doc, dev.path, "PF206") == set()
    admin, body = _function(doc, "admin")
    del body["//"]["preflight_skip"]
    found = {(f.resource, f.attribute) for f in findings(doc, dev.path) if f.check_id == "PF206"}
    assert found == {(admin, "environment.variables.DB_SECRET_ARN"), (admin, "role")}
    assert failing(doc, dev.path, "PF000") == set()


def test_an_aurora_master_secret_counts_by_reference_and_by_arn_pattern(dev: Fixture) -> None:
    doc = _application_secret(dev)
    _add(
        doc,
        "aws_rds_cluster",
        "aurora",
        {
            "cluster_identifier": "payment-aurora-dev-pr42",
            "engine": "aurora-postgresql",
            "manage_master_user_password": True,
        },
    )
    processor, body = _function(doc, "processor")
    body["environment"]["variables"]["ADMIN_SECRET_ARN"] = "${aws_rds_cluster.aurora.master_user_secret[0].secret_arn}"
    assert failing(doc, dev.path, "PF206") == {processor}
    del body["environment"]["variables"]["ADMIN_SECRET_ARN"]
    _grant_reading(doc, "arn:aws:secretsmanager:*:*:secret:rds!cluster-*")
    assert failing(doc, dev.path, "PF206") == _both(doc), "RDS names a cluster's secret rds!cluster-…"


def test_a_grant_on_every_secret_reads_the_master_secret_only_if_rds_manages_one(dev: Fixture) -> None:
    doc = _application_secret(dev)
    _grant_reading(doc, "*")
    assert failing(doc, dev.path, "PF206") == _both(doc)
    _, database = named(doc, "aws_db_instance", "database/instance")
    database["manage_master_user_password"] = False
    assert failing(doc, dev.path, "PF206") == set()


def test_a_function_whose_role_is_outside_the_configuration_is_judged_by_its_environment(dev: Fixture) -> None:
    doc = _application_secret(dev)
    _grant_reading(doc, master_secret(doc))
    assert failing(doc, dev.path, "PF206") == _both(doc)
    _, processor = _function(doc, "processor")
    processor["role"] = "arn:aws:iam::123456789012:role/shared-lambda-role"  # its policies cannot be seen
    assert failing(doc, dev.path, "PF206") == {_function(doc, "reconcile")[0]}
    processor["environment"]["variables"]["DB_SECRET_ARN"] = master_secret(doc)
    assert failing(doc, dev.path, "PF206") == _both(doc)


def test_a_grant_on_the_literal_bucket_arn_covers_a_literally_named_bucket(dev: Fixture) -> None:
    doc = dev.document()
    _, bucket = named(doc, "aws_s3_bucket", "transaction-log/bucket")
    [statement] = policy_statements(doc, "WriteTransactionEvents")
    statement["resources"] = [f"arn:aws:s3:::{bucket['bucket']}/transactions/*"]
    assert failing(doc, dev.path, "PF201") == set()
    bucket["bucket"] = "payment-txlog-${var.suffix}"  # the name is no longer known, so neither is the ARN
    assert failing(doc, dev.path, "PF201") == _both(doc)


def _api_key_secret(doc: Document, **body: Any) -> str:
    """A secret the processor reads through API_KEY_SECRET_ARN; returns the processor's address."""
    _add(doc, "aws_secretsmanager_secret", "api_key", {"name": "payment-api-key-dev-pr42", **body})
    processor, function = _function(doc, "processor")
    function["environment"]["variables"]["API_KEY_SECRET_ARN"] = "${aws_secretsmanager_secret.api_key.arn}"
    return processor


@pytest.mark.parametrize(
    "resource",
    ["arn:aws:secretsmanager:us-east-1:*:secret:payment-api-key-dev-pr42-*", "${aws_secretsmanager_secret.api_key.id}"],
)
def test_a_secret_in_the_environment_needs_get_secret_value(dev: Fixture, resource: str) -> None:
    doc = dev.document()
    processor = _api_key_secret(doc, kms_key_id=_ref(doc, "aws_kms_key", "encryption/key", "arn"))
    assert failing(doc, dev.path, "PF201") == {processor}
    _grants(doc)["statement"].append(
        {"sid": "ReadApiKey", "effect": "Allow", "actions": ["secretsmanager:GetSecretValue"], "resources": [resource]}
    )
    assert failing(doc, dev.path, "PF201") == set(), "the key's kms:Decrypt is already granted"


def test_a_secret_encrypted_with_another_key_needs_decrypt_on_that_key(dev: Fixture) -> None:
    doc = dev.document()
    _add(doc, "aws_kms_key", "other", {"enable_key_rotation": True})
    processor = _api_key_secret(doc, kms_key_id="${aws_kms_key.other.arn}")
    _grants(doc)["statement"].append(
        {
            "sid": "ReadApiKey",
            "effect": "Allow",
            "actions": ["secretsmanager:GetSecretValue"],
            "resources": ["${aws_secretsmanager_secret.api_key.arn}"],
        }
    )
    found = [f for f in findings(doc, dev.path) if f.check_id == "PF201"]
    assert [(f.resource, f.attribute) for f in found] == [(processor, "environment.variables.API_KEY_SECRET_ARN")]
    assert "KMS key aws_kms_key.other of secret aws_secretsmanager_secret.api_key" in found[0].message


@pytest.mark.parametrize(
    ("kind", "body", "action"),
    [
        ("aws_dynamodb_table", {"name": "payment-locks-dev-pr42", "hash_key": "id"}, "dynamodb:PutItem"),
        ("aws_sqs_queue", {"name": "payment-dlq-dev-pr42"}, "sqs:SendMessage"),
        ("aws_sns_topic", {"name": "payment-alerts-dev-pr42"}, "sns:Publish"),
        ("aws_ssm_parameter", {"name": "/payment/dev-pr42/flag", "type": "String", "value": "on"}, "ssm:GetParameter"),
    ],
)
def test_every_kind_of_resource_in_the_environment_needs_a_grant(
    dev: Fixture, kind: str, body: dict[str, Any], action: str
) -> None:
    doc = dev.document()
    _add(doc, kind, "extra", body)
    processor, function = _function(doc, "processor")
    function["environment"]["variables"]["EXTRA_ARN"] = f"${{{kind}.extra.arn}}"
    assert failing(doc, dev.path, "PF201") == {processor}
    _grants(doc)["statement"].append(
        {"sid": "UseExtra", "effect": "Allow", "actions": [action], "resources": [f"${{{kind}.extra.arn}}"]}
    )
    assert failing(doc, dev.path, "PF201") == set()


def test_a_missing_grant_names_the_policies_preflight_could_not_read(dev: Fixture) -> None:
    doc = dev.document()
    role, _ = named(doc, "aws_iam_role", "function-role/role")
    _add(
        doc,
        "aws_iam_role_policy_attachment",
        "legacy",
        {"role": f"${{aws_iam_role.{role}.name}}", "policy_arn": "arn:aws:iam::123456789012:policy/legacy-grants"},
    )
    drop_statement(doc, "WriteTransactionEvents")
    found = [f for f in findings(doc, dev.path) if f.check_id == "PF201"]
    assert {f.resource for f in found} == _both(doc)
    assert all(
        "none of the 2 attached policies (arn:aws:iam::123456789012:policy/legacy-grants could not be read)"
        in f.message
        for f in found
    )


def _without_secret_key(doc: Document) -> None:
    """Leave the bucket as the only thing that could need the KMS key of the processor's role (its login
    secret uses AWS's key)."""
    _, secret = named(doc, "aws_secretsmanager_secret", "app-login/secret")
    del secret["kms_key_id"]
    drop_statement(doc, "UseDataKeyThroughS3AndSecretsManager")


@pytest.mark.parametrize(
    "rule",
    [
        {"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}},
        {"apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256"}]},
        {"bucket_key_enabled": True},
    ],
    ids=["object", "list", "no-default"],
)
def test_a_bucket_without_a_kms_key_needs_no_kms_grant(dev: Fixture, rule: dict[str, Any]) -> None:
    doc = dev.document()
    _without_secret_key(doc)
    assert failing(doc, dev.path, "PF201") == _both(doc), "the bucket's KMS key needs kms:GenerateDataKey"
    _, sse = named(doc, "aws_s3_bucket_server_side_encryption_configuration", "transaction-log/encryption")
    sse["rule"] = [rule]
    assert failing(doc, dev.path, "PF201") == set()


def test_a_decrypt_grant_for_another_purpose_does_not_cover_a_buckets_key(dev: Fixture) -> None:
    """S3 needs kms:GenerateDataKey for every SSE-KMS put: the webhook secrets' kms:Encrypt and kms:Decrypt on
    the same key do not make up for the S3 grant's absence."""
    doc = dev.document()
    drop_statement(doc, "UseDataKeyThroughS3AndSecretsManager")
    assert failing(doc, dev.path, "PF201") == _both(doc)


def test_the_kms_key_of_a_bucket_is_found_in_the_list_form_of_the_rule(dev: Fixture) -> None:
    doc = dev.document()
    _, sse = named(doc, "aws_s3_bucket_server_side_encryption_configuration", "transaction-log/encryption")
    default = sse["rule"][0]["apply_server_side_encryption_by_default"]
    sse["rule"][0]["apply_server_side_encryption_by_default"] = [default]
    assert failing(doc, dev.path, "PF201") == set()
    _without_secret_key(doc)
    assert failing(doc, dev.path, "PF201") == _both(doc)


def test_another_buckets_kms_key_is_not_a_need(dev: Fixture) -> None:
    doc = dev.document()
    _without_secret_key(doc)
    _, sse = named(doc, "aws_s3_bucket_server_side_encryption_configuration", "transaction-log/encryption")
    sse["rule"] = [{"apply_server_side_encryption_by_default": {"sse_algorithm": "AES256"}}]
    _add(doc, "aws_s3_bucket", "archive", {"bucket": "payment-archive-dev-pr42"})
    _add(
        doc,
        "aws_s3_bucket_server_side_encryption_configuration",
        "archive",
        {
            "bucket": "${aws_s3_bucket.archive.id}",
            "rule": [
                {
                    "apply_server_side_encryption_by_default": {
                        "kms_master_key_id": _ref(doc, "aws_kms_key", "encryption/key", "arn"),
                        "sse_algorithm": "aws:kms",
                    }
                }
            ],
        },
    )
    assert failing(doc, dev.path, "PF201") == set()


def _detach(doc: Document) -> None:
    """Remove the attachment of the processor's policy (test_checks shows PF201 then fails)."""
    name, _ = named(doc, "aws_iam_role_policy_attachment", "function-role/attachment")
    del doc["resource"]["aws_iam_role_policy_attachment"][name]


def _attach_inline(doc: Document, role: str, policy: str, document: str) -> None:
    doc["resource"]["aws_iam_role"][role]["inline_policy"] = [{"name": "grants", "policy": document}]


def _attach_managed_arns(doc: Document, role: str, policy: str, document: str) -> None:
    doc["resource"]["aws_iam_role"][role]["managed_policy_arns"] = [f"${{aws_iam_policy.{policy}.arn}}"]


def _attach_role_policy(doc: Document, role: str, policy: str, document: str) -> None:
    _add(doc, "aws_iam_role_policy", "grants", {"role": f"${{aws_iam_role.{role}.id}}", "policy": document})


def _attach_policy_attachment(doc: Document, role: str, policy: str, document: str) -> None:
    _add(
        doc,
        "aws_iam_policy_attachment",
        "grants",
        {
            "name": "grants",
            "roles": [f"${{aws_iam_role.{role}.name}}"],
            "policy_arn": f"${{aws_iam_policy.{policy}.id}}",
        },
    )


def _attach_by_literal_role_name(doc: Document, role: str, policy: str, document: str) -> None:
    _add(
        doc,
        "aws_iam_role_policy_attachment",
        "grants",
        {"role": doc["resource"]["aws_iam_role"][role]["name"], "policy_arn": f"${{aws_iam_policy.{policy}.arn}}"},
    )


@pytest.mark.parametrize(
    "attach",
    [
        _attach_inline,
        _attach_managed_arns,
        _attach_role_policy,
        _attach_policy_attachment,
        _attach_by_literal_role_name,
    ],
    ids=lambda f: f.__name__.removeprefix("_attach_"),
)
def test_every_way_of_giving_a_role_its_policy_counts(dev: Fixture, attach: Any) -> None:
    doc = dev.document()
    _detach(doc)
    assert failing(doc, dev.path, "PF201") == _both(doc)
    role, _ = named(doc, "aws_iam_role", "function-role/role")
    policy, body = named(doc, "aws_iam_policy", "function-role/policy")
    attach(doc, role, policy, body["policy"])
    for check_id in ("PF201", "PF202", "PF203", "PF204"):
        assert failing(doc, dev.path, check_id) == set(), check_id


def _as_json_policy(statements: list[dict[str, Any]]) -> str:
    """The IAM JSON a policy document's statements render to (what a hand-written policy holds)."""
    rendered = []
    for s in statements:
        item: dict[str, Any] = {"Sid": s["sid"], "Effect": s["effect"], "Action": s["actions"]}
        item["Resource"] = s["resources"][0] if len(s["resources"]) == 1 else s["resources"]
        for condition in s.get("condition", []):
            item.setdefault("Condition", {})[condition["test"]] = {condition["variable"]: condition["values"]}
        rendered.append(item)
    return json.dumps({"Version": "2012-10-17", "Statement": rendered})


def test_a_policy_written_as_json_is_read_like_a_policy_document(dev: Fixture) -> None:
    doc = dev.document()
    _, policy = named(doc, "aws_iam_policy", "function-role/policy")
    policy["policy"] = _as_json_policy(_grants(doc)["statement"])
    for check_id in ("PF201", "PF202", "PF203", "PF204"):
        assert failing(doc, dev.path, check_id) == set(), check_id
    policy["policy"] = _as_json_policy([s for s in _grants(doc)["statement"] if s["sid"] != "WriteTransactionEvents"])
    assert failing(doc, dev.path, "PF201") == _both(doc)


def test_an_inline_policy_on_a_role_is_checked_for_wide_grants(dev: Fixture) -> None:
    doc = dev.document()
    role, body = named(doc, "aws_iam_role", "function-role/role")
    body["inline_policy"] = [
        {"name": "debug", "policy": json.dumps({"Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}})}
    ]
    assert failing(doc, dev.path, "PF202") == {address("aws_iam_role", role)}


def test_deny_statements_are_never_too_wide(dev: Fixture) -> None:
    doc = dev.document()
    _grants(doc)["statement"].append({"effect": "Deny", "actions": ["s3:*"], "resources": ["*"]})
    assert failing(doc, dev.path, "PF202") == set()
    _grants(doc)["statement"][-1]["effect"] = "Allow"
    policy, _ = named(doc, "aws_iam_policy", "function-role/policy")
    assert failing(doc, dev.path, "PF202") == {address("aws_iam_policy", policy)}


def test_an_allow_with_not_action_is_too_wide(dev: Fixture) -> None:
    doc = dev.document()
    _grants(doc)["statement"].append({"effect": "Allow", "not_actions": ["iam:*"], "resources": ["*"]})
    policy, _ = named(doc, "aws_iam_policy", "function-role/policy")
    found = [f for f in findings(doc, dev.path) if f.check_id == "PF202"]
    assert [f.resource for f in found] == [address("aws_iam_policy", policy)]
    assert "NotAction/NotResource" in found[0].message


def test_a_function_outside_a_vpc_needs_no_eni_actions(dev: Fixture) -> None:
    doc = dev.document()
    drop_statement(doc, "AttachToPrivateSubnets")
    assert failing(doc, dev.path, "PF203") == _both(doc)
    _, processor = _function(doc, "processor")
    del processor["vpc_config"]
    assert failing(doc, dev.path, "PF203") == {_function(doc, "reconcile")[0]}


# --- Class 7: storage and exposure -------------------------------------------------------------


def test_a_legacy_inline_encryption_block_encrypts_the_bucket(dev: Fixture) -> None:
    doc = dev.document()
    bucket_name, bucket = named(doc, "aws_s3_bucket", "transaction-log/bucket")
    sse_name, sse = named(doc, "aws_s3_bucket_server_side_encryption_configuration", "transaction-log/encryption")
    del doc["resource"]["aws_s3_bucket_server_side_encryption_configuration"][sse_name]
    assert failing(doc, dev.path, "PF701") == {address("aws_s3_bucket", bucket_name)}
    bucket["server_side_encryption_configuration"] = {"rule": sse["rule"]}
    assert failing(doc, dev.path, "PF701") == set()


def _open_statement(**extra: Any) -> dict[str, Any]:
    return {
        "effect": "Allow",
        "actions": ["s3:GetObject"],
        "principals": [{"type": "*", "identifiers": ["*"]}],
        "resources": ["*"],
        **extra,
    }


def test_a_bucket_policy_allowing_everyone_is_public(dev: Fixture) -> None:
    doc = dev.document()
    policy, _ = named(doc, "aws_s3_bucket_policy", "transaction-log/policy")
    _, tls_only = named(doc, "aws_iam_policy_document", "transaction-log/tls-only", section="data")
    tls_only["statement"].append(_open_statement())
    assert failing(doc, dev.path, "PF702") == {address("aws_s3_bucket_policy", policy)}
    tls_only["statement"][-1] = _open_statement(
        condition=[{"test": "StringEquals", "variable": "aws:PrincipalOrgID", "values": ["o-abc123"]}]
    )
    assert failing(doc, dev.path, "PF702") == set()


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::111122223333:root", "*"]}])
def test_a_json_bucket_policy_allowing_everyone_is_public(dev: Fixture, principal: object) -> None:
    doc = dev.document()
    policy, body = named(doc, "aws_s3_bucket_policy", "transaction-log/policy")
    statement = {"Effect": "Allow", "Principal": principal, "Action": "s3:GetObject", "Resource": "*"}
    body["policy"] = json.dumps({"Statement": [statement]})
    assert failing(doc, dev.path, "PF702") == {address("aws_s3_bucket_policy", policy)}
    statement["Principal"] = {"AWS": "arn:aws:iam::111122223333:root"}
    body["policy"] = json.dumps({"Statement": [statement]})
    assert failing(doc, dev.path, "PF702") == set()


def test_a_function_logging_to_a_custom_group_needs_that_group_declared(dev: Fixture) -> None:
    doc = dev.document()
    processor, function = _function(doc, "processor")
    function["logging_config"] = {"log_format": "JSON", "log_group": "/payments/dev-pr42/processor"}
    assert failing(doc, dev.path, "PF704") == {processor}
    _add(doc, "aws_cloudwatch_log_group", "custom", {"name": "/payments/dev-pr42/processor", "retention_in_days": 14})
    assert failing(doc, dev.path, "PF704") == set()


def test_a_function_logging_to_a_referenced_group_is_managed(dev: Fixture) -> None:
    doc = dev.document()
    _, function = _function(doc, "processor")
    function["logging_config"] = {"log_group": _ref(doc, "aws_cloudwatch_log_group", "api/access-logs", "name")}
    assert failing(doc, dev.path, "PF704") == set()


def test_a_function_with_a_computed_name_is_not_judged_for_its_log_group(dev: Fixture) -> None:
    doc = dev.document()
    name, _ = named(doc, "aws_cloudwatch_log_group", "processor-logs")
    del doc["resource"]["aws_cloudwatch_log_group"][name]
    processor, function = _function(doc, "processor")
    assert failing(doc, dev.path, "PF704") == {processor}
    function["function_name"] = "payment-processor-${var.suffix}"
    assert failing(doc, dev.path, "PF704") == set()


def _database_sg(doc: Document) -> str:
    return _ref(doc, "aws_security_group", "network/database-sg", "id")


def _vpc_rule(doc: Document, **body: Any) -> str:
    return _add(doc, "aws_vpc_security_group_ingress_rule", "open", {"security_group_id": _database_sg(doc), **body})


def test_an_inline_ingress_block_open_to_the_world_exposes_the_database(dev: Fixture) -> None:
    doc = dev.document()
    name, sg = named(doc, "aws_security_group", "network/database-sg")
    sg["ingress"] = [{"from_port": 5432, "to_port": 5432, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"]}]
    assert failing(doc, dev.path, "PF707") == {address("aws_security_group", name)}


@pytest.mark.parametrize(
    "rule",
    [
        {"cidr_ipv4": "0.0.0.0/0", "ip_protocol": "-1"},
        {"cidr_ipv6": "::/0", "ip_protocol": "tcp", "from_port": 3306, "to_port": 3306},
    ],
    ids=["all-traffic", "ipv6-mysql"],
)
def test_a_vpc_ingress_rule_open_to_the_world_exposes_the_database(dev: Fixture, rule: dict[str, Any]) -> None:
    doc = dev.document()
    added = _vpc_rule(doc, **rule)
    assert failing(doc, dev.path, "PF707") == {added}


@pytest.mark.parametrize(
    "rule",
    [
        {"cidr_ipv4": "0.0.0.0/0", "ip_protocol": "tcp", "from_port": 443, "to_port": 443},
        {"cidr_ipv4": "0.0.0.0/0", "ip_protocol": "udp", "from_port": 5432, "to_port": 5432},
        {"cidr_ipv4": "10.0.0.0/8", "ip_protocol": "tcp", "from_port": 5432, "to_port": 5432},
        {"cidr_ipv4": "0.0.0.0/0", "ip_protocol": "tcp", "from_port": "${var.port}", "to_port": "${var.port}"},
    ],
    ids=["https-only", "udp", "private-cidr", "computed-port"],
)
def test_ingress_that_does_not_open_a_database_port_to_the_world_passes(dev: Fixture, rule: dict[str, Any]) -> None:
    doc = dev.document()
    _vpc_rule(doc, **rule)
    assert failing(doc, dev.path, "PF707") == set()


def test_a_queue_is_unencrypted_only_when_sse_is_turned_off(dev: Fixture) -> None:
    doc = dev.document()
    queue = _add(doc, "aws_sqs_queue", "dlq", {"name": "payment-dlq-dev-pr42"})
    assert failing(doc, dev.path, "PF708") == set(), "SQS-managed SSE is on by default"
    doc["resource"]["aws_sqs_queue"]["dlq"]["sqs_managed_sse_enabled"] = False
    assert failing(doc, dev.path, "PF708") == {queue}
    doc["resource"]["aws_sqs_queue"]["dlq"]["kms_master_key_id"] = _ref(doc, "aws_kms_key", "encryption/key", "arn")
    assert failing(doc, dev.path, "PF708") == set()


def test_a_legacy_inline_versioning_block_versions_the_bucket(dev: Fixture) -> None:
    doc = dev.document()
    bucket_name, bucket = named(doc, "aws_s3_bucket", "transaction-log/bucket")
    versioning, _ = named(doc, "aws_s3_bucket_versioning", "transaction-log/versioning")
    del doc["resource"]["aws_s3_bucket_versioning"][versioning]
    bucket["versioning"] = {"enabled": False}
    assert failing(doc, dev.path, "PF711") == {address("aws_s3_bucket", bucket_name)}
    bucket["versioning"] = {"enabled": True}
    assert failing(doc, dev.path, "PF711") == set()
