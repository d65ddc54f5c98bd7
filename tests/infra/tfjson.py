"""Reading synthesized Terraform JSON in tests: resources by type, references, names."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_REF = re.compile(r"\b((?:data\.)?aws_[a-z0-9_]+\.[A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class Stack:
    """One synthesized stack: its cdk.tf.json and folder."""

    path: Path
    doc: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> Stack:
        """Read a cdk.tf.json."""
        return cls(path, json.loads(path.read_text()))

    @property
    def folder(self) -> Path:
        """The stack's folder (terraform's working directory)."""
        return self.path.parent

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        """Resources of one type, by logical name."""
        return dict(self.doc.get("resource", {}).get(kind, {}))

    def package_object(self, function: dict[str, Any]) -> dict[str, Any]:
        """The ``aws_s3_object`` a function's ``s3_key`` names (the functions take their code from S3)."""
        match = re.fullmatch(r"\$\{aws_s3_object\.([A-Za-z0-9_-]+)\.key\}", function["s3_key"])
        assert match, f"s3_key {function['s3_key']!r} does not name an aws_s3_object of this stack"
        return self.resources("aws_s3_object")[match.group(1)]

    def package(self, function: dict[str, Any]) -> Path:
        """The zip a function deploys: the source of its package object, relative to the stack folder."""
        source: str = self.package_object(function)["source"]
        return self.folder / source

    def only(self, kind: str) -> tuple[str, dict[str, Any]]:
        """The one resource of ``kind`` (fails if there are several)."""
        found = self.resources(kind)
        assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
        return next(iter(found.items()))

    def named(self, kind: str, path_end: str) -> tuple[str, dict[str, Any]]:
        """The resource of ``kind`` whose construct path ends with ``/path_end`` (e.g. "admin/function")."""
        found = [
            (name, body)
            for name, body in self.resources(kind).items()
            if body.get("//", {}).get("metadata", {}).get("path", "").endswith(f"/{path_end}")
        ]
        assert len(found) == 1, f"expected one {kind} at */{path_end}, found {[n for n, _ in found]}"
        return found[0]

    def data(self, kind: str) -> dict[str, dict[str, Any]]:
        """Data sources of one type, by logical name."""
        return dict(self.doc.get("data", {}).get(kind, {}))

    def all_resources(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(type, name, config) of every resource."""
        return [
            (kind, name, body) for kind, items in self.doc.get("resource", {}).items() for name, body in items.items()
        ]

    def count(self) -> int:
        """How many resources the stack declares."""
        return len(self.all_resources())

    def policy_statements(self, expression: str) -> list[dict[str, Any]]:
        """Statements of the aws_iam_policy_document an expression such as
        ``${data.aws_iam_policy_document.x.json}`` refers to."""
        match = re.search(r"data\.aws_iam_policy_document\.([A-Za-z0-9_-]+)\.json", expression)
        assert match, f"not a policy document reference: {expression}"
        return list(self.data("aws_iam_policy_document")[match.group(1)]["statement"])

    def role_statements(self, role: str) -> list[dict[str, Any]]:
        """Statements of every customer-managed policy attached to ``aws_iam_role.<role>``."""
        statements: list[dict[str, Any]] = []
        for attachment in self.resources("aws_iam_role_policy_attachment").values():
            if attachment["role"] != f"${{aws_iam_role.{role}.name}}":
                continue
            for policy in refs(attachment["policy_arn"]):
                kind, name = policy.split(".")
                assert kind == "aws_iam_policy", attachment
                statements += self.policy_statements(self.resources(kind)[name]["policy"])
        return statements

    def statements_of_function(self, function: dict[str, Any]) -> list[dict[str, Any]]:
        """Statements of the policies attached to the role a function runs as."""
        (role,) = refs(function["role"])
        kind, name = role.split(".")
        assert kind == "aws_iam_role", function["role"]
        return self.role_statements(name)


def refs(value: Any) -> set[str]:
    """Every ``type.name`` reference inside a value (strings, lists, dicts)."""
    return set(_REF.findall(json.dumps(value)))


def address(kind: str, name: str) -> str:
    """``type.name``."""
    return f"{kind}.{name}"


def resource_path(stack: Stack, resource_id: str) -> str:
    """The path (``/payments/{id}/capture``) of the REST API resource ``resource_id`` refers to, walking
    its parents up to the API's root."""
    resources = stack.resources("aws_api_gateway_resource")
    parts: list[str] = []
    while not resource_id.endswith(".root_resource_id}"):
        (ref,) = refs(resource_id)
        kind, name = ref.split(".")
        assert kind == "aws_api_gateway_resource", resource_id
        parts.append(resources[name]["path_part"])
        resource_id = resources[name]["parent_id"]
    return "/" + "/".join(reversed(parts))
