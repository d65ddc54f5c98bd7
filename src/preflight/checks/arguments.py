"""Reading map arguments (a function's environment variables, a deployment's triggers) in every shape
Terraform JSON allows: an object of entries, or one expression standing for the whole map."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from preflight.model import Resource

#: The name given to an expression that stands for a whole map (``"variables": "${var.env}"``), whose
#: entries' names are not known before apply.
WHOLE = "*"


def entries(value: Any) -> list[tuple[str, Any]]:
    """``(name, value)`` of a map argument, in name order; an expression is one entry named ``*``."""
    if isinstance(value, Mapping):
        return sorted((str(k), v) for k, v in value.items())
    if isinstance(value, str) and value:
        return [(WHOLE, value)]
    return []


def environment(function: Resource) -> list[tuple[str, Any]]:
    """A Lambda function's environment variables."""
    return entries(function.block("environment").get("variables"))
