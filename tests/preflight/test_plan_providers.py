"""A plan's providers: regions read from root variables, aliases, and providers written inside modules, so
that names two plans both create are compared region by region."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from preflight.loader import load
from preflight.runner import check_files
from tests.preflight.plan_builder import Plan, plan_json, planned_resource, write_plan


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
    return plan_json(
        [
            planned_resource(
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
    paths = [write_plan(plan, tmp_path / str(n)) for n, plan in enumerate(plans)]
    report = check_files(paths)
    assert report.crashes == ()
    return [(Path(f.file).parent.name, f.resource) for f in report.findings if f.check_id == "PF110"]


def test_the_provider_region_is_read_from_a_root_variable(tmp_path: Path) -> None:
    config = load(write_plan(_log_group_in("eu-west-1"), tmp_path))
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
    group = load(write_plan(aliased, tmp_path / "load")).lookup("aws_cloudwatch_log_group.app")
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
    config = load(write_plan(plan, tmp_path))
    [resource] = config.resources
    alias = str(resource.get("provider")).removeprefix("aws.")
    assert {"region": "us-west-2", "alias": alias} in config.document["provider"]["aws"]
    assert _collisions(tmp_path / "apart", plan, _log_group_in("us-east-1")) == []
    assert len(_collisions(tmp_path / "same", plan, _log_group_in("us-west-2"))) == 2
