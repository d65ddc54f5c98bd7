"""Nested blocks written with ``dynamic`` are kept from a plan's planned values (its configuration does not
list them), with what only apply knows left unknown."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from preflight.loader import load
from preflight.model import is_literal
from preflight.runner import check_files
from tests.preflight.plan_builder import Plan, plan_json, planned_resource, write_plan

INGRESS = [
    {
        "cidr_blocks": ["0.0.0.0/0"],
        "description": "",
        "from_port": 5432,
        "ipv6_cidr_blocks": [],
        "prefix_list_ids": [],
        "protocol": "tcp",
        "security_groups": [],
        "self": False,
        "to_port": 5432,
    }
]


def _security_group(*, dynamic: bool) -> Plan:
    """``ingress`` written as a block (listed in expressions) or as ``dynamic "ingress"`` (not listed)."""
    expressions: dict[str, Any] = {"name": {"constant_value": "db-pr7"}, "description": {"constant_value": "db"}}
    if not dynamic:
        expressions["ingress"] = {"constant_value": copy.deepcopy(INGRESS)}
    values = {
        "name": "db-pr7",
        "description": "db",
        "ingress": INGRESS,
        "egress": [],
        "revoke_rules_on_delete": False,
        "tags": None,
        "timeouts": None,
    }
    return plan_json(
        [planned_resource("aws_security_group.db", values, expressions)],
        variables={"suffix": "pr7"},
    )


@pytest.mark.parametrize("dynamic", [False, True], ids=["ingress-block", "dynamic-ingress"])
def test_a_dynamic_block_is_kept_and_an_open_database_port_found(tmp_path: Path, dynamic: bool) -> None:
    path = write_plan(_security_group(dynamic=dynamic), tmp_path)
    group = load(path).lookup("aws_security_group.db")
    assert group is not None
    assert group.blocks("ingress")[0]["cidr_blocks"] == ["0.0.0.0/0"]
    assert "revoke_rules_on_delete" not in group.body  # a scalar default is still "not set explicitly"
    assert "egress" not in group.body  # an empty list is no block
    report = check_files([path])
    assert report.crashes == ()
    assert ("PF707", "aws_security_group.db") in {(f.check_id, f.resource) for f in report.findings}


def test_a_dynamic_block_value_known_only_after_apply_is_not_literal(tmp_path: Path) -> None:
    plan = _security_group(dynamic=True)
    rule = {k: v for k, v in INGRESS[0].items() if k != "security_groups"}
    plan["planned_values"]["root_module"]["resources"][0]["values"]["ingress"] = [rule]
    change = plan["resource_changes"][0]["change"]
    change["after"] = plan["planned_values"]["root_module"]["resources"][0]["values"]
    change["after_unknown"] = {"id": True, "arn": True, "ingress": [{"security_groups": True}]}
    group = load(write_plan(plan, tmp_path)).lookup("aws_security_group.db")
    assert group is not None
    [ingress] = group.blocks("ingress")
    assert ingress["from_port"] == 5432 and not is_literal(ingress["security_groups"])
    assert "description" in ingress and "self" in ingress  # known planned values, as Terraform shows them
