"""Loading checkable files into ``Configuration`` objects, refusing anything else.

Two formats, told apart by content: Terraform JSON (``cdk.tf.json``, any ``*.tf.json``), and the plan
JSON ``terraform show -json PLANFILE`` writes, which ``preflight.plan`` translates into Terraform JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from preflight import plan, plan_backend
from preflight.model import Configuration, Resource, UnusableInput, is_literal, provider_default_tags
from preflight.unique_names import UNIQUE_NAMES

# Top-level keys of Terraform's JSON syntax (https://developer.hashicorp.com/terraform/language/syntax/json).
TOP_LEVEL_KEYS = {
    "terraform",
    "provider",
    "resource",
    "data",
    "variable",
    "output",
    "locals",
    "module",
    "moved",
    "import",
    "removed",
    "check",
    "//",
}
# Tags that carry a deployment suffix when the caller does not give one.
SUFFIX_TAGS = ("Deployment", "DeploymentSuffix", "EnvironmentSuffix", "environment_suffix", "Suffix")
#: What a stack shared by every deployment of an account declares in place of a deployment suffix
#: (``Deployment = "account-us-east-1"``): checked against it even when ``--suffix`` names one deployment.
ACCOUNT_SCOPE = re.compile(r"account-[a-z]{2}(?:-[a-z]+)+-\d")
# Variables that carry it (their default in Terraform JSON; the value planned with, in a plan).
SUFFIX_VARIABLES = ("environment_suffix", "deployment_suffix", "suffix", "deployment")
_SUFFIX = re.compile(r"[A-Za-z0-9][\w-]{0,39}")
# Learning the suffix from names: at least this many literal unique names, and this share of them ending
# in one token. Fewer or less uniform names say nothing reliable, and no suffix is then assumed.
MIN_NAMES, NAME_SHARE = 3, 0.8
# An environment's name is no deployment suffix: names that end in it alone (payment-db-dev) are the same in
# every deployment of that environment, which then collide, so it is never learnt as the suffix.
ENVIRONMENT_NAMES = {
    "dev",
    "development",
    "test",
    "testing",
    "qa",
    "uat",
    "stage",
    "staging",
    "preprod",
    "prod",
    "production",
    "live",
    "sandbox",
    "demo",
}
ACCEPTED = (
    "preflight reads Terraform JSON (cdk.tf.json, *.tf.json) or a plan JSON; for an HCL project write one with "
    f"`{plan.HOW_TO_PLAN}`"
)


Pointer = tuple[str | int, ...]


def _blocks(section: Any, path: str, file: Path) -> list[tuple[str, str, Mapping[str, Any], Pointer]]:
    """``{"type": {"name": {...}}}`` (or lists of such objects, which the JSON syntax also allows), each with
    its JSON location in the document (``("resource", "aws_s3_bucket", "logs")``) so reports can point at it."""
    items = section if isinstance(section, list) else [section]
    found = []
    for position, item in enumerate(items):
        at: Pointer = (path, position) if isinstance(section, list) else (path,)
        if not isinstance(item, Mapping):
            raise UnusableInput(f"{file}: '{path}' must be an object of resource types, not {type(item).__name__}")
        for kind, named in item.items():
            groups = named if isinstance(named, list) else [named]
            for index, group in enumerate(groups):
                group_at: Pointer = (*at, kind, index) if isinstance(named, list) else (*at, kind)
                if not isinstance(group, Mapping):
                    raise UnusableInput(f"{file}: '{path}.{kind}' must be an object of named blocks")
                for name, body in group.items():
                    body_at: Pointer = (*group_at, name)
                    if isinstance(body, list) and len(body) == 1:
                        body, body_at = body[0], (*body_at, 0)
                    if not isinstance(body, Mapping):
                        raise UnusableInput(f"{file}: '{path}.{kind}.{name}' must be an object")
                    found.append((kind, name, body, body_at))
    return found


def infer_suffix(document: Mapping[str, Any]) -> tuple[str | None, str]:
    """The deployment suffix the configuration declares about itself, and where it was found."""
    for tags in provider_default_tags(document):
        for tag in SUFFIX_TAGS:
            value = tags.get(tag)
            if isinstance(value, str) and _SUFFIX.fullmatch(value):
                return value, f"provider default tag {tag}"
    variables = document.get("variable", {})
    for name in SUFFIX_VARIABLES:
        variable = variables.get(name) if isinstance(variables, Mapping) else None
        value = variable.get("default") if isinstance(variable, Mapping) else None
        if isinstance(value, str) and _SUFFIX.fullmatch(value):
            return value, f"variable {name}"
    return None, ""


def suffix_from_names(resources: list[Resource]) -> tuple[str | None, str]:
    """The last token most literal unique names end with (``payment-db-dev-pr42`` -> ``pr42``), when the names
    agree on it clearly enough; the suffix a name without it would collide for."""
    names = [
        str(r.get(limit.attribute))
        for r in resources
        for limit in UNIQUE_NAMES.get(r.type, ())[:1]
        if is_literal(r.get(limit.attribute))
    ]
    endings: dict[str, int] = {}
    for name in names:
        token = re.split(r"[-_/.:]", name)[-1]
        endings[token] = endings.get(token, 0) + 1
    if len(names) < MIN_NAMES or not endings:
        return None, ""
    token, count = max(endings.items(), key=lambda item: item[1])
    if count < NAME_SHARE * len(names) or not _SUFFIX.fullmatch(token) or token.lower() in ENVIRONMENT_NAMES:
        return None, ""
    return token, f"the last part of {count} of {len(names)} unique names"


def load(path: Path, *, suffix: str | None = None) -> Configuration:
    """Read one Terraform JSON file; UnusableInput with the reason when it cannot be checked."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UnusableInput(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UnusableInput(f"{path}: cannot read it ({error})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise UnusableInput(
            f"{path}: not JSON ({error.msg} at line {error.lineno} column {error.colno}); {ACCEPTED}"
        ) from None
    return from_document(document, path, suffix=suffix)


def from_document(document: Any, path: Path, *, suffix: str | None = None) -> Configuration:
    """A configuration from an already-parsed document, Terraform JSON or plan JSON (told apart by content);
    ``path`` locates relative files (Lambda zips)."""
    if plan.is_plan(document):
        try:
            translated, pointers = plan.translate(document, path)
        except (AttributeError, TypeError) as error:  # a member of the wrong JSON type somewhere in it
            raise UnusableInput(f"{path}: a plan JSON of a shape Terraform does not write ({error})") from None
        backend = plan_backend.recorded_backend(path)
        if backend:
            record = str(plan_backend.recorded_file(path).resolve())
            translated["terraform"] = {"backend": backend, "//": {"recorded_in": record}}
        return _configuration(translated, path, suffix, lambda section, kind, name, _: pointers[(section, kind, name)])
    if plan.is_state(document):
        raise UnusableInput(
            f"{path}: a Terraform state (terraform show -json without a plan file), which says what exists, not "
            f"what a change will deploy; {ACCEPTED}"
        )
    if not isinstance(document, Mapping) or not document:
        raise UnusableInput(f"{path}: not Terraform JSON (the top level must be a non-empty object); {ACCEPTED}")
    unknown = set(document) - TOP_LEVEL_KEYS
    # Only Terraform's own top-level keys: a variables.tf.json or outputs.tf.json of a project split over several
    # files is Terraform JSON with nothing to check, not an unusable input (the pre-commit hook passes them all).
    if unknown:
        raise UnusableInput(
            f"{path}: not Terraform JSON, nor a plan JSON (unexpected top-level keys {sorted(unknown)}; Terraform "
            f"JSON has only {', '.join(sorted(TOP_LEVEL_KEYS - {'//'}))}, a plan JSON format_version and "
            f"planned_values); {ACCEPTED}"
        )
    return _configuration(document, path, suffix, lambda section, kind, name, at: at)


def _configuration(
    document: Mapping[str, Any], path: Path, suffix: str | None, pointer: Callable[[str, str, str, Pointer], Pointer]
) -> Configuration:
    """The configuration of a Terraform JSON document; ``pointer`` says where each block is in the file read."""
    resources = [
        Resource(k, n, b, pointer=pointer("resource", k, n, at))
        for k, n, b, at in _blocks(document.get("resource", {}), "resource", path)
    ]
    data_sources = [
        Resource(k, n, b, data=True, pointer=pointer("data", k, n, at))
        for k, n, b, at in _blocks(document.get("data", {}), "data", path)
    ]
    source = "--suffix"
    declared, where = infer_suffix(document)
    if declared is not None and ACCOUNT_SCOPE.fullmatch(declared):
        # A stack for the whole account (payments_infra.stacks.account) in a run checking one deployment: its names
        # carry account-<region>, not that deployment's suffix.
        suffix, source = declared, f"{where}, a stack the account's deployments share"
    elif suffix is None:
        suffix, source = declared, where
    if suffix is None:
        suffix, source = suffix_from_names(resources)
    return Configuration(path, document, resources, data_sources, suffix=suffix, suffix_source=source if suffix else "")
