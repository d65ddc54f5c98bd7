"""The checker's data: a loaded Terraform JSON configuration, its resources, and findings."""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class UnusableInput(Exception):
    """The input cannot be checked at all (unreadable, not JSON, not Terraform JSON): exit code 2."""


class Severity(enum.StrEnum):
    """How bad a finding is. Only ``error`` fails a check run (exit 1)."""

    ERROR = "error"
    WARNING = "warning"
    NOTE = "note"


@dataclass(frozen=True)
class Finding:
    """One problem on one resource (or on the configuration's ``terraform`` block)."""

    check_id: str
    severity: Severity
    resource: str  # address: aws_s3_bucket.logs, data.aws_iam_policy_document.x, terraform.backend.s3
    attribute: str  # dotted path inside the resource, "" when the whole resource is concerned
    message: str
    fix: str
    file: str = ""
    #: Where the fix goes: the construct path for CDK output ("payments-dev-pr42/api/route_payments"), the
    #: resource address for a plan or HCL-derived JSON. Filled by the runner from the resource.
    location: str = ""
    #: The recorded reason when a resource silences this finding; suppressed findings never fail a run but
    #: are kept for reports (SARIF ``suppressions``).
    suppression: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The JSON form: the six contract fields and the file."""
        return {
            "check_id": self.check_id,
            "severity": str(self.severity),
            "resource": self.resource,
            "attribute": self.attribute,
            "message": self.message,
            "fix": self.fix,
            "file": self.file,
        }


# References inside Terraform expressions: type.name(.attribute…), or data.type.name(.attribute…).
_NOT_RESOURCES = {"var", "local", "module", "each", "count", "path", "self", "terraform", "data"}
_REFERENCE = re.compile(
    r"(?<![\w.\-\"])((?:data\.)?[a-z][a-z0-9_]*\.[A-Za-z_][\w-]*)((?:\.[A-Za-z_][\w-]*|\[\d+\]|\[\"[^\"]*\"\])*)"
)


def interpolations(text: str) -> list[str]:
    """The expressions inside ``${…}`` in a string, with nested braces and quoted strings respected
    (``${sha1(jsonencode([{"id" = x.id}]))}`` is one expression)."""
    found = []
    start = text.find("${")
    while start != -1:
        depth, index, quoted = 0, start + 1, False
        while index < len(text):
            char = text[index]
            if quoted:
                if char == "\\":
                    index += 1
                elif char == '"':
                    quoted = False
            elif char == '"':
                quoted = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    break
            index += 1
        found.append(text[start + 2 : index])
        start = text.find("${", index)
    return found


@dataclass(frozen=True)
class CheckCrash:
    """A check that raised on a configuration: reported, and the run exits 2 (never 1, which means findings)."""

    check_id: str
    file: str
    error: str  # "KeyError: 'x'" - the exception, never the configuration's values


@dataclass(frozen=True)
class Reference:
    """``aws_s3_bucket.logs.arn`` -> address ``aws_s3_bucket.logs``, attribute ``arn``."""

    address: str
    attribute: str  # "" for a whole-object reference; indexes as ".0": master_user_secret.0.secret_arn


def references(value: Any) -> list[Reference]:
    """Every resource or data-source reference inside the ``${…}`` expressions of a value."""
    found: list[Reference] = []
    if isinstance(value, str):
        found.extend(_string_references(value))
    elif isinstance(value, Mapping):
        for item in value.values():
            found.extend(references(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(references(item))
    return found


@functools.lru_cache(maxsize=16384)
def _string_references(text: str) -> tuple[Reference, ...]:
    """The references in one string, parsed once per distinct string: every check asks again for the same
    values (an API deployment's triggers are one expression of a few hundred references), and a file checked
    again (a baseline, a mutation test) has the same strings."""
    found = []
    for expression in interpolations(text):
        for address, tail in _REFERENCE.findall(expression):
            kind = address.split(".")[0]
            if kind in _NOT_RESOURCES and not address.startswith("data."):
                continue
            attribute = re.sub(r"\[(\d+)\]", r".\1", tail).lstrip(".")
            found.append(Reference(address, attribute))
    return tuple(found)


def is_literal(value: Any) -> bool:
    """A plain string with no interpolation."""
    return isinstance(value, str) and "${" not in value


@dataclass(frozen=True)
class Resource:
    """One ``resource`` or ``data`` block."""

    type: str
    name: str
    body: Mapping[str, Any]
    data: bool = False
    #: Where the block is in the file's JSON (keys and list indexes), for reports that point at a line.
    pointer: tuple[str | int, ...] = ()

    @property
    def address(self) -> str:
        """``type.name``, or ``data.type.name`` for a data source."""
        return f"{'data.' if self.data else ''}{self.type}.{self.name}"

    def get(self, key: str, default: Any = None) -> Any:
        """An argument of the block."""
        return self.body.get(key, default)

    def block(self, key: str) -> dict[str, Any]:
        """A nested block, whether written as an object or as a one-element list."""
        value = self.body.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        return dict(value) if isinstance(value, Mapping) else {}

    def blocks(self, key: str) -> list[dict[str, Any]]:
        """A repeatable nested block as a list of objects."""
        value = self.body.get(key)
        if isinstance(value, Mapping):
            return [dict(value)]
        if isinstance(value, list):
            return [dict(v) for v in value if isinstance(v, Mapping)]
        return []

    @property
    def construct_path(self) -> str | None:
        """The CDK construct path CDK for Terraform records in ``"//": {"metadata": {"path": ...}}``."""
        comment = self.body.get("//")
        metadata = comment.get("metadata") if isinstance(comment, Mapping) else None
        path = metadata.get("path") if isinstance(metadata, Mapping) else None
        return path if isinstance(path, str) else None

    @property
    def suppressions(self) -> dict[str, Any]:
        """``{check_id: reason}`` from the block's ``"//": {"preflight_skip": {...}}`` comment."""
        comment = self.body.get("//")
        if isinstance(comment, Mapping) and isinstance(comment.get("preflight_skip"), Mapping):
            return dict(comment["preflight_skip"])
        return {}


@dataclass
class Configuration:
    """A loaded Terraform JSON configuration (one file)."""

    path: Path
    document: Mapping[str, Any]
    resources: list[Resource]
    data_sources: list[Resource]
    suffix: str | None = None  # the deployment suffix names must carry, when known
    suffix_source: str = ""
    _index: dict[str, Resource] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._index = {r.address: r for r in [*self.resources, *self.data_sources]}

    @property
    def folder(self) -> Path:
        """Terraform's working directory for this file: relative paths resolve from here."""
        return self.path.parent

    def of_type(self, *types: str) -> Iterator[Resource]:
        """Managed resources of the given types, in file order."""
        return (r for r in self.resources if r.type in types)

    def lookup(self, address: str) -> Resource | None:
        """The resource or data source at an address."""
        return self._index.get(address)

    def referenced(self, value: Any, *types: str) -> list[tuple[Resource, str]]:
        """Resources of ``types`` that ``value`` refers to, with the attribute referred to."""
        found = []
        for ref in references(value):
            resource = self.lookup(ref.address)
            if resource is not None and (not types or resource.type in types):
                found.append((resource, ref.attribute))
        return found

    @property
    def s3_backend(self) -> dict[str, Any] | None:
        """The ``terraform.backend.s3`` block, when the configuration has one (names, locking, encryption)."""
        backend = self.terraform.get("backend", {})
        s3 = backend.get("s3") if isinstance(backend, dict) else None
        return s3 if isinstance(s3, dict) else None

    @property
    def terraform(self) -> Mapping[str, Any]:
        """The ``terraform`` block (merged if written as a list)."""
        block = self.document.get("terraform", {})
        if isinstance(block, list):
            merged: dict[str, Any] = {}
            for item in block:
                merged.update(item)
            return merged
        return block if isinstance(block, Mapping) else {}


def provider_default_tags(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The ``default_tags`` tag maps of every aws provider block, in order (each written form: a provider list,
    a default_tags list or object)."""
    providers = document.get("provider", {})
    aws: list[Any] = []
    for item in providers if isinstance(providers, list) else [providers]:  # [{"aws": …}] is allowed too
        found = item.get("aws", []) if isinstance(item, Mapping) else []
        aws.extend(found if isinstance(found, list) else [found])
    tag_maps: list[Mapping[str, Any]] = []
    for block in aws:
        if not isinstance(block, Mapping):
            continue
        for default_tags in (
            block.get("default_tags", [])
            if isinstance(block.get("default_tags"), list)
            else [block.get("default_tags") or {}]
        ):
            tags = default_tags.get("tags", {}) if isinstance(default_tags, Mapping) else {}
            if isinstance(tags, Mapping):
                tag_maps.append(tags)
    return tag_maps
