"""Values a plan marks sensitive, and sensitive variables, become a placeholder before any check reads
them: Terraform writes them in plain text in the plan JSON, and no report may quote one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from preflight.loader import load
from preflight.model import is_literal, references
from preflight.plan import SENSITIVE
from preflight.runner import check_files
from tests.cli.command import payments
from tests.preflight.plan_builder import Plan, plan_json, planned_resource, write_plan

SECRET = "secret-db-name"


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
    return plan_json(
        [
            planned_resource(
                "aws_cloudwatch_log_group.app",
                {"name": SECRET, "retention_in_days": 14, "tags": None},
                {"name": {"references": ["var.db_name"]}, "retention_in_days": {"constant_value": 14}},
                **masks,
            ),
            planned_resource(
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
    config = load(write_plan(_secret_names(where), tmp_path))
    group = config.lookup("aws_cloudwatch_log_group.app")
    database = config.lookup("aws_db_instance.main")
    assert group is not None and database is not None
    assert group.get("name") == SENSITIVE and group.get("retention_in_days") == 14
    assert database.get("identifier") == SENSITIVE and database.get("engine") == "postgres"
    assert not is_literal(SENSITIVE) and references(SENSITIVE) == []
    assert config.document["variable"]["db_name"] == {"default": SENSITIVE}
    assert config.document["variable"]["region"] == {"default": "us-east-1"}  # not sensitive: kept
    assert SECRET not in json.dumps(config.document)

    report = check_files([write_plan(_secret_names(where), tmp_path / "again")])
    assert report.crashes == ()
    assert SECRET not in json.dumps([f.__dict__ for f in report.findings], default=str)


def test_a_sensitive_block_keeps_its_shape_and_a_map_of_secrets_its_keys(tmp_path: Path) -> None:
    plan = plan_json(
        [
            planned_resource(
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
    function = load(write_plan(plan, tmp_path)).lookup("aws_lambda_function.api")
    assert function is not None
    assert function.block("environment")["variables"] == {"DB_NAME": SENSITIVE, "STAGE": "dev"}
    assert function.block("vpc_config") == {"subnet_ids": [SENSITIVE]}
    assert SECRET not in json.dumps(function.body)


def test_a_secret_written_as_a_constant_is_not_taken_from_the_configuration(tmp_path: Path) -> None:
    """``configuration`` keeps constants in plain text too (``password = "..."``); a nested block wholly
    sensitive must not fall back to them."""
    plan = plan_json(
        [
            planned_resource(
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
    database = load(write_plan(plan, tmp_path)).lookup("aws_db_instance.main")
    assert database is not None
    assert database.get("password") == SENSITIVE and database.get("restore") == SENSITIVE
    assert database.blocks("s3_import") == [{"bucket_name": SENSITIVE}]
    assert SECRET not in json.dumps(database.body)


@pytest.mark.parametrize("output", ["text", "json", "sarif"])
def test_payments_check_never_prints_a_sensitive_value(tmp_path: Path, output: str) -> None:
    path = write_plan(_secret_names("both"), tmp_path)
    result = payments("check", "--format", output, str(path))
    assert result.returncode in (0, 1), result.stderr
    assert SECRET not in result.stdout and SECRET not in result.stderr
    assert "Traceback" not in result.stderr
