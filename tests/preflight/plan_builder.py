"""Plan JSON built by hand, in the shape ``terraform show -json`` writes (format 1.2, Terraform 1.10/1.11):
root resources with their planned values, changes and configuration, variables and providers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Plan = dict[str, Any]


def planned_resource(
    address: str,
    values: dict[str, Any],
    expressions: dict[str, Any],
    *,
    sensitive: Any = None,
    after_sensitive: Any = None,
    provider: str = "aws",
) -> dict[str, Any]:
    """One root resource: its planned values, change and configuration (``sensitive``: its planned
    ``sensitive_values``; ``after_sensitive``: the change's mask, ``sensitive`` unless given)."""
    kind, name = address.split(".")
    head = {"address": address, "mode": "managed", "type": kind, "name": name}
    return {
        "planned": {
            **head,
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "schema_version": 0,
            "values": values,
            "sensitive_values": sensitive or {},
        },
        "change": {
            **head,
            "provider_name": "registry.terraform.io/hashicorp/aws",
            "change": {
                "actions": ["create"],
                "before": None,
                "after": values,
                "after_unknown": {"id": True, "arn": True},
                "before_sensitive": False,
                "after_sensitive": (sensitive or {}) if after_sensitive is None else after_sensitive,
            },
        },
        "configuration": {**head, "provider_config_key": provider, "expressions": expressions, "schema_version": 0},
    }


def plan_json(
    resources: list[dict[str, Any]],
    *,
    variables: dict[str, Any],
    sensitive_variables: tuple[str, ...] = (),
    providers: dict[str, Any] | None = None,
) -> Plan:
    declared: dict[str, Any] = {name: {} for name in variables}
    for name in sensitive_variables:
        declared[name] = {"sensitive": True}
    return {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "variables": {name: {"value": value} for name, value in variables.items()},
        "planned_values": {"root_module": {"resources": [r["planned"] for r in resources]}},
        "resource_changes": [r["change"] for r in resources],
        "configuration": {
            "provider_config": providers
            if providers is not None
            else {"aws": {"name": "aws", "full_name": "registry.terraform.io/hashicorp/aws"}},
            "root_module": {"resources": [r["configuration"] for r in resources], "variables": declared},
        },
        "applyable": True,
        "complete": True,
        "errored": False,
    }


def write_plan(plan: Plan, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "plan.json"
    path.write_text(json.dumps(plan))
    return path
