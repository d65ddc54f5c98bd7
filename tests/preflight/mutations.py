"""Mutating the project's own synthesized stacks one defect at a time, and checking the result.

Shared by the preflight tests and ``bench/preflight_bench.py``.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from preflight.loader import from_document
from preflight.model import Finding
from preflight.runner import run

Document = dict[str, Any]
Mutation = Callable[[Document], None]


def load_document(path: Path) -> Document:
    """A stack's cdk.tf.json as a fresh dict."""
    return dict(json.loads(path.read_text()))


def findings(document: Document, path: Path, *, suffix: str | None = None) -> list[Finding]:
    """Every finding for ``document``, as if it were the file at ``path`` (relative zips resolve there)."""
    return run(from_document(copy.deepcopy(document), path, suffix=suffix))


def failing(document: Document, path: Path, check_id: str) -> set[str]:
    """The resources one check reports."""
    return {f.resource for f in findings(document, path) if f.check_id == check_id}


def resources(document: Document, kind: str) -> dict[str, dict[str, Any]]:
    """Resources of one type, by logical name (mutable, in place)."""
    return dict(document.get("resource", {}).get(kind, {}))


def named(document: Document, kind: str, path_end: str, *, section: str = "resource") -> tuple[str, dict[str, Any]]:
    """The resource (or, with ``section="data"``, data source) of ``kind`` whose construct path ends with
    ``path_end`` (e.g. "transaction-log/bucket")."""
    for name, body in document[section][kind].items():
        if body.get("//", {}).get("metadata", {}).get("path", "").endswith(path_end):
            return name, body
    raise KeyError(f"no {'data.' if section == 'data' else ''}{kind} at */{path_end}")


def address(kind: str, name: str) -> str:
    """``type.name``."""
    return f"{kind}.{name}"


#: The execution role of the processor and its delivery job; "authorizer-role" and "admin-role" are the others.
PROCESSOR_ROLE = "function-role"


def grants(document: Document, role: str = PROCESSOR_ROLE) -> dict[str, Any]:
    """The policy document of one execution role's grants (by the role's construct id)."""
    _, body = named(document, "aws_iam_policy_document", f"{role}/grants", section="data")
    return body


def policy_statements(
    document: Document, sid: str | None = None, *, role: str = PROCESSOR_ROLE
) -> Iterator[dict[str, Any]]:
    """Statements of one execution role's policy document (all, or the one with ``sid``): a sid such as
    WriteOwnLogs or ReadDatabaseLogin is in more than one role's."""
    for statement in grants(document, role).get("statement", []):
        if sid is None or statement.get("sid") == sid:
            yield statement


def drop_statement(document: Document, sid: str, *, role: str = PROCESSOR_ROLE) -> None:
    """Remove one statement (by sid) from one execution role's policy document; it must be there."""
    body = grants(document, role)
    kept = [s for s in body.get("statement", []) if s.get("sid") != sid]
    assert len(kept) == len(body.get("statement", [])) - 1, f"no statement {sid} in {role}'s grants"
    body["statement"] = kept


def add_resource(document: Document, kind: str, name: str, body: dict[str, Any]) -> str:
    """Add a resource to the stack; returns its address."""
    document["resource"].setdefault(kind, {})[name] = body
    return address(kind, name)


def reference(document: Document, kind: str, path_end: str, attribute: str) -> str:
    """``${type.name.attribute}`` of the resource of ``kind`` whose construct path ends with ``path_end``."""
    name, _ = named(document, kind, path_end)
    return f"${{{kind}.{name}.{attribute}}}"


def lambda_function(document: Document, which: str) -> tuple[str, dict[str, Any]]:
    """``which`` is "processor", "reconcile", "authorizer" or "admin"; returns (address, body)."""
    name, body = named(document, "aws_lambda_function", f"{which}/function")
    return address("aws_lambda_function", name), body


def processor_and_reconcile(document: Document) -> set[str]:
    """The processor and its delivery job: the functions running as the processor's role."""
    return {lambda_function(document, "processor")[0], lambda_function(document, "reconcile")[0]}


def functions_running_as(document: Document, role: str = PROCESSOR_ROLE) -> set[str]:
    """The addresses of the functions whose execution role is ``role`` (by its construct id)."""
    name, _ = named(document, "aws_iam_role", f"{role}/role")
    return {
        address("aws_lambda_function", function)
        for function, body in resources(document, "aws_lambda_function").items()
        if body.get("role") == f"${{aws_iam_role.{name}.arn}}"
    }


# The project's stacks are moving to authorized methods and an application database secret while the
# checks for them (PF503-PF505, PF206) are tested: the helpers below put a stack in the passing state
# first, whatever state its infrastructure is in, so each test sets exactly the state it is about.
AUTHORIZER = "preflight_authorizer"
APP_SECRET = "preflight_app_credentials"
_MASTER_SECRET = re.compile(r"\$\{(?:aws_db_instance|aws_rds_cluster)\.[\w-]+\.master_user_secret\[0\]\.secret_arn\}")


def authorize_every_method(doc: Document) -> str:
    """Add a REQUEST authorizer to the REST API and put every method behind it; returns its address."""
    api, _ = named(doc, "aws_api_gateway_rest_api", "api/rest-api")
    function, _ = named(doc, "aws_lambda_function", "processor/function")
    doc["resource"].setdefault("aws_api_gateway_authorizer", {})[AUTHORIZER] = {
        "name": "payments-authorizer",
        "type": "REQUEST",
        "rest_api_id": f"${{aws_api_gateway_rest_api.{api}.id}}",
        "authorizer_uri": f"${{aws_lambda_function.{function}.invoke_arn}}",
        "identity_source": "method.request.header.Authorization",
        "authorizer_result_ttl_in_seconds": 300,
    }
    for method in doc["resource"]["aws_api_gateway_method"].values():
        method["authorization"] = "CUSTOM"
        method["authorizer_id"] = f"${{aws_api_gateway_authorizer.{AUTHORIZER}.id}}"
    return address("aws_api_gateway_authorizer", AUTHORIZER)


def master_secret(doc: Document) -> str:
    """The reference to the RDS-managed master user secret of the stack's database."""
    database, _ = named(doc, "aws_db_instance", "database/instance")
    return f"${{aws_db_instance.{database}.master_user_secret[0].secret_arn}}"


def use_application_secret(doc: Document) -> str:
    """Add an application user's secret and point every use of a master user secret (environment
    variables, grants) at it instead; returns its reference."""
    key, _ = named(doc, "aws_kms_key", "encryption/key")
    _, database = named(doc, "aws_db_instance", "database/instance")
    doc["resource"].setdefault("aws_secretsmanager_secret", {})[APP_SECRET] = {
        "name": f"{database['identifier']}-app",  # carries the deployment suffix, as names must (PF101)
        "kms_key_id": f"${{aws_kms_key.{key}.arn}}",
    }
    reference = f"${{aws_secretsmanager_secret.{APP_SECRET}.arn}}"

    def rewrite(value: Any) -> Any:
        if isinstance(value, str):
            return _MASTER_SECRET.sub(reference, value)
        if isinstance(value, dict):
            return {k: rewrite(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rewrite(v) for v in value]
        return value

    for section in ("resource", "data"):
        doc[section] = rewrite(doc.get(section, {}))
    return reference
