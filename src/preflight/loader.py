"""Loading Terraform JSON files into ``Configuration`` objects, refusing anything that is not one."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from preflight.model import Configuration, Resource, UnusableInput

# Top-level keys of Terraform's JSON syntax (https://developer.hashicorp.com/terraform/language/syntax/json).
TOP_LEVEL_KEYS = {"terraform", "provider", "resource", "data", "variable", "output", "locals", "module", "moved",
                  "import", "removed", "check", "//"}  # fmt: skip
# Tags that carry a deployment suffix when the caller does not give one.
SUFFIX_TAGS = ("Deployment", "DeploymentSuffix", "EnvironmentSuffix", "environment_suffix", "Suffix")


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
    providers = document.get("provider", {})
    aws: list[Any] = []
    for item in providers if isinstance(providers, list) else [providers]:  # [{"aws": …}] is allowed too
        found = item.get("aws", []) if isinstance(item, Mapping) else []
        aws.extend(found if isinstance(found, list) else [found])
    for block in aws:
        if not isinstance(block, Mapping):
            continue
        for default_tags in (
            block.get("default_tags", [])
            if isinstance(block.get("default_tags"), list)
            else [block.get("default_tags") or {}]
        ):
            tags = default_tags.get("tags", {}) if isinstance(default_tags, Mapping) else {}
            for tag in SUFFIX_TAGS:
                value = tags.get(tag) if isinstance(tags, Mapping) else None
                if isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9][\w-]{0,39}", value):
                    return value, f"provider default tag {tag}"
    return None, ""


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
            f"{path}: not JSON ({error.msg} at line {error.lineno} column {error.colno}); preflight reads Terraform "
            "JSON such as the cdk.tf.json that `payments synth` writes"
        ) from None
    return from_document(document, path, suffix=suffix)


def from_document(document: Any, path: Path, *, suffix: str | None = None) -> Configuration:
    """A configuration from an already-parsed document; ``path`` locates relative files (Lambda zips)."""
    if not isinstance(document, Mapping) or not document:
        raise UnusableInput(f"{path}: not Terraform JSON (the top level must be a non-empty object)")
    unknown = set(document) - TOP_LEVEL_KEYS
    if unknown or not ({"resource", "data", "terraform", "provider", "module"} & set(document)):
        raise UnusableInput(
            f"{path}: not Terraform JSON (top-level keys {sorted(document)}; expected some of resource, data, "
            "terraform, provider, module)"
        )
    resources = [
        Resource(k, n, b, pointer=at) for k, n, b, at in _blocks(document.get("resource", {}), "resource", path)
    ]
    data_sources = [
        Resource(k, n, b, data=True, pointer=at) for k, n, b, at in _blocks(document.get("data", {}), "data", path)
    ]
    source = "--suffix"
    if suffix is None:
        suffix, source = infer_suffix(document)
    return Configuration(path, document, resources, data_sources, suffix=suffix, suffix_source=source if suffix else "")
