"""Mutating the project's own synthesized stacks one defect at a time, and checking the result.

Shared by the preflight tests and ``bench/preflight_bench.py``.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from preflight.loader import from_document
from preflight.model import Finding
from preflight.registry import run

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


def policy_statements(document: Document, sid: str | None = None) -> Iterator[dict[str, Any]]:
    """Statements of the processor's policy document (all, or the one with ``sid``)."""
    for body in document["data"]["aws_iam_policy_document"].values():
        for statement in body.get("statement", []):
            if sid is None or statement.get("sid") == sid:
                yield statement


def drop_statement(document: Document, sid: str) -> None:
    """Remove one statement (by sid) from whichever policy document holds it."""
    for body in document["data"]["aws_iam_policy_document"].values():
        body["statement"] = [s for s in body.get("statement", []) if s.get("sid") != sid]
