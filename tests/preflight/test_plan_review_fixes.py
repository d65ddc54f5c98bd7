"""Plan JSON translation fixes found in review: sensitive values never reach a report, nested blocks written
with ``dynamic`` are kept, and provider regions and aliases are read from the plan.

Each plan is built by hand in the shape ``terraform show -json`` writes (format 1.2, Terraform 1.10/1.11).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from preflight.loader import load
from preflight.model import is_literal, references
from preflight.plan import SENSITIVE
from preflight.runner import check_files
from tests.cli.command import payments

Plan = dict[str, Any]
SECRET = "secret-db-name"


def _resource(
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


def _plan(
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


def _write(plan: Plan, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "plan.json"
    path.write_text(json.dumps(plan))
    return path


# -- 1. sensitive values ------------------------------------------------------------------------------------


def _secret_names(where: str) -> Plan:
    """A log group and a database whose names come from a sensitive variable (Terraform marks the
    attributes that take its value sensitive, and still writes the value in plain text)."""
    group_mask = {"name": True, "tags": {}, "tags_all": {}}
    database_mask = {"db_name": True, "identifier": True, "password": True}
    masks: dict[str, Any] = {
        "planned": {"sensitive": group_mask, "after_sensitive": {}},
        "change": {"sensitive": {}, "after_sensitive": group_mask},
        "both": {"sensitive": group_mask},
    }[where]
    return _plan(
        [
            _resource(
                "aws_cloudwatch_log_group.app",
                {"name": SECRET, "retention_in_days": 14, "tags": None},
                {"name": {"references": ["var.db_name"]}, "retention_in_days": {"constant_value": 14}},
                **masks,
            ),
            _resource(
                "aws_db_instance.main",
                {"identifier": SECRET, "db_name": SECRET, "password": f"{SECRET}-pw", "engine": "postgres"},
                {
                    "identifier": {"references": ["var.db_name"]},
                    "db_name": {"references": ["var.db_name"]},
                    "password": {"references": ["var.db_password"]},
                    "engine": {"constant_value": "postgres"},
                },
                sensitive=database_mask,
            ),
        ],
        variables={"db_name": SECRET, "db_password": f"{SECRET}-pw", "region": "us-east-1"},
        sensitive_variables=("db_name", "db_password"),
    )


@pytest.mark.parametrize("where", ["planned", "change", "both"])
def test_a_sensitive_value_becomes_a_placeholder_that_is_neither_literal_nor_a_reference(
    tmp_path: Path, where: str
) -> None:
    config = load(_write(_secret_names(where), tmp_path))
    group = config.lookup("aws_cloudwatch_log_group.app")
    database = config.lookup("aws_db_instance.main")
    assert group is not None and database is not None
    assert group.get("name") == SENSITIVE and group.get("retention_in_days") == 14
    assert database.get("identifier") == SENSITIVE and database.get("engine") == "postgres"
    assert not is_literal(SENSITIVE) and references(SENSITIVE) == []
    assert config.document["variable"]["db_name"] == {"default": SENSITIVE}
    assert config.document["variable"]["region"] == {"default": "us-east-1"}  # not sensitive: kept
    assert SECRET not in json.dumps(config.document)

    report = check_files([_write(_secret_names(where), tmp_path / "again")])
    assert report.crashes == ()
    assert SECRET not in json.dumps([f.__dict__ for f in report.findings], default=str)


def test_a_sensitive_block_keeps_its_shape_and_a_map_of_secrets_its_keys(tmp_path: Path) -> None:
    plan = _plan(
        [
            _resource(
                "aws_lambda_function.api",
                {
                    "function_name": "api-pr7",
                    "environment": [{"variables": {"DB_NAME": SECRET, "STAGE": "dev"}}],
                    "vpc_config": [{"subnet_ids": [SECRET], "security_group_ids": ["sg-1"]}],
                },
                {
                    "function_name": {"constant_value": "api-pr7"},
                    "environment": [{"variables": {"references": ["var.db_name"]}}],
                    "vpc_config": [{"subnet_ids": {"references": ["var.db_name"]}}],
                },
                sensitive={"environment": [{"variables": {"DB_NAME": True}}], "vpc_config": True},
            )
        ],
        variables={"db_name": SECRET},
        sensitive_variables=("db_name",),
    )
    function = load(_write(plan, tmp_path)).lookup("aws_lambda_function.api")
    assert function is not None
    assert function.block("environment")["variables"] == {"DB_NAME": SENSITIVE, "STAGE": "dev"}
    assert function.block("vpc_config") == {"subnet_ids": [SENSITIVE]}
    assert SECRET not in json.dumps(function.body)


def test_a_secret_written_as_a_constant_is_not_taken_from_the_configuration(tmp_path: Path) -> None:
    """``configuration`` keeps constants in plain text too (``password = "..."``); a nested block wholly
    sensitive must not fall back to them."""
    plan = _plan(
        [
            _resource(
                "aws_db_instance.main",
                {"identifier": "db-pr7", "password": SECRET, "s3_import": [{"bucket_name": SECRET}]},
                {
                    "identifier": {"constant_value": "db-pr7"},
                    "password": {"constant_value": SECRET},
                    "s3_import": [{"bucket_name": {"constant_value": SECRET}}],
                    "restore": {"source": {"constant_value": SECRET}},
                },
                sensitive={"password": True, "s3_import": True, "restore": True},
            )
        ],
        variables={},
    )
    plan["planned_values"]["root_module"]["resources"][0]["values"]["restore"] = {"source": SECRET}
    database = load(_write(plan, tmp_path)).lookup("aws_db_instance.main")
    assert database is not None
    assert database.get("password") == SENSITIVE and database.get("restore") == SENSITIVE
    assert database.blocks("s3_import") == [{"bucket_name": SENSITIVE}]
    assert SECRET not in json.dumps(database.body)


@pytest.mark.parametrize("output", ["text", "json", "sarif"])
def test_payments_check_never_prints_a_sensitive_value(tmp_path: Path, output: str) -> None:
    path = _write(_secret_names("both"), tmp_path)
    result = payments("check", "--format", output, str(path))
    assert result.returncode in (0, 1), result.stderr
    assert SECRET not in result.stdout and SECRET not in result.stderr
    assert "Traceback" not in result.stderr


# -- 2. dynamic blocks --------------------------------------------------------------------------------------

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
    return _plan(
        [_resource("aws_security_group.db", values, expressions)],
        variables={"suffix": "pr7"},
    )


@pytest.mark.parametrize("dynamic", [False, True], ids=["ingress-block", "dynamic-ingress"])
def test_a_dynamic_block_is_kept_and_an_open_database_port_found(tmp_path: Path, dynamic: bool) -> None:
    path = _write(_security_group(dynamic=dynamic), tmp_path)
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
    group = load(_write(plan, tmp_path)).lookup("aws_security_group.db")
    assert group is not None
    [ingress] = group.blocks("ingress")
    assert ingress["from_port"] == 5432 and not is_literal(ingress["security_groups"])
    assert "description" in ingress and "self" in ingress  # known planned values, as Terraform shows them


# -- 3. providers -------------------------------------------------------------------------------------------


def _log_group_in(region: str, *, alias: str = "") -> Plan:
    providers: dict[str, Any] = {
        "aws": {
            "name": "aws",
            "full_name": "registry.terraform.io/hashicorp/aws",
            "expressions": {
                "region": {"references": ["var.region"]},
                "default_tags": [{"tags": {"references": ["var.tags"]}}],
                "secret_key": {"constant_value": "not-copied"},  # credentials are no argument preflight reads
            },
        },
        "aws.eu": {
            "name": "aws",
            "full_name": "registry.terraform.io/hashicorp/aws",
            "alias": "eu",
            "expressions": {"region": {"constant_value": "eu-west-1"}},
        },
    }
    return _plan(
        [
            _resource(
                "aws_cloudwatch_log_group.app",
                {"name": "/app/shared", "retention_in_days": 14},
                {"name": {"constant_value": "/app/shared"}, "retention_in_days": {"constant_value": 14}},
                provider=f"aws.{alias}" if alias else "aws",
            )
        ],
        variables={"region": region, "tags": {"Suffix": "pr7"}},
        providers=providers,
    )


def _collisions(tmp_path: Path, *plans: Plan) -> list[tuple[str, str]]:
    paths = [_write(plan, tmp_path / str(n)) for n, plan in enumerate(plans)]
    report = check_files(paths)
    assert report.crashes == ()
    return [(Path(f.file).parent.name, f.resource) for f in report.findings if f.check_id == "PF110"]


def test_the_provider_region_is_read_from_a_root_variable(tmp_path: Path) -> None:
    config = load(_write(_log_group_in("eu-west-1"), tmp_path))
    default, eu = config.document["provider"]["aws"]
    assert default == {"region": "eu-west-1", "default_tags": [{"tags": {"Suffix": "pr7"}}]}
    assert eu == {"region": "eu-west-1", "alias": "eu"}
    assert (config.suffix, config.suffix_source) == ("pr7", "provider default tag Suffix")


def test_the_same_name_in_two_regions_is_no_collision(tmp_path: Path) -> None:
    assert _collisions(tmp_path / "apart", _log_group_in("us-east-1"), _log_group_in("eu-west-1")) == []
    same = _collisions(tmp_path / "same", _log_group_in("us-east-1"), _log_group_in("us-east-1"))
    assert same == [("0", "aws_cloudwatch_log_group.app"), ("1", "aws_cloudwatch_log_group.app")]


def test_a_resource_on_an_aliased_provider_uses_its_region(tmp_path: Path) -> None:
    aliased = _log_group_in("us-east-1", alias="eu")
    group = load(_write(aliased, tmp_path / "load")).lookup("aws_cloudwatch_log_group.app")
    assert group is not None and group.get("provider") == "aws.eu"
    assert _collisions(tmp_path / "apart", aliased, _log_group_in("us-east-1")) == []
    assert len(_collisions(tmp_path / "same", aliased, _log_group_in("eu-west-1"))) == 2


@pytest.mark.parametrize("key", ["west:aws", "module.west:aws"])
def test_a_provider_written_inside_a_module_gets_an_alias_of_its_own(tmp_path: Path, key: str) -> None:
    """A module resource's key names the module by its bare name (older Terraform) or its path; the
    provider_config key always has the path."""
    plan = _log_group_in("us-east-1")
    plan["configuration"]["provider_config"]["module.west:aws"] = {
        "name": "aws",
        "full_name": "registry.terraform.io/hashicorp/aws",
        "module_address": "module.west",
        "expressions": {"region": {"constant_value": "us-west-2"}},
    }
    group = plan["planned_values"]["root_module"].pop("resources")[0]
    group["address"] = "module.west.aws_cloudwatch_log_group.app"
    plan["planned_values"]["root_module"]["child_modules"] = [{"address": "module.west", "resources": [group]}]
    change = plan["resource_changes"][0]
    change["address"], change["module_address"] = group["address"], "module.west"
    configured = plan["configuration"]["root_module"].pop("resources")[0]
    configured["provider_config_key"] = key
    plan["configuration"]["root_module"]["module_calls"] = {
        "west": {"source": "./west", "module": {"resources": [configured]}}
    }
    config = load(_write(plan, tmp_path))
    [resource] = config.resources
    alias = str(resource.get("provider")).removeprefix("aws.")
    assert {"region": "us-west-2", "alias": alias} in config.document["provider"]["aws"]
    assert _collisions(tmp_path / "apart", plan, _log_group_in("us-east-1")) == []
    assert len(_collisions(tmp_path / "same", plan, _log_group_in("us-west-2"))) == 2
