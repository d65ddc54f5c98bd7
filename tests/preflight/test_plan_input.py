"""A plan JSON (``terraform show -json PLANFILE``) is checked like the Terraform JSON it plans.

The fixture ``plans/service.plan.json`` is written by hand in the shape Terraform 1.10 writes: a small
HCL service (bucket, KMS key, role with a policy document read at apply, function, REST API with a
permission and a deployment, and a module with a counted queue), every name built from ``var.suffix``.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from preflight.loader import load
from preflight.model import Configuration, UnusableInput
from preflight.plan import HOW_TO_PLAN
from preflight.runner import check_files

FIXTURE = Path(__file__).parent / "plans" / "service.plan.json"
Plan = dict[str, Any]


def _plan() -> Plan:
    return dict(json.loads(FIXTURE.read_text()))


def _write(plan: Plan, folder: Path) -> Path:
    """The plan beside the function's real package (build/api.zip), its hash as filebase64sha256 gives it."""
    package = folder / "build" / "api.zip"
    package.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {'statusCode': 200, 'body': 'ok'}\n")
    digest = base64.b64encode(hashlib.sha256(package.read_bytes()).digest()).decode()
    path = folder / "plan.json"
    path.write_text(json.dumps(plan).replace("HASH-OF-build/api.zip", digest))
    return path


def _findings(plan: Plan, folder: Path) -> set[tuple[str, str]]:
    report = check_files([_write(plan, folder)])
    assert report.crashes == ()
    return {(f.check_id, f.resource) for f in report.findings}


def _planned(plan: Plan, address: str) -> dict[str, Any]:
    resources = plan["planned_values"]["root_module"]["resources"]
    found: dict[str, Any] = next(r for r in resources if r["address"] == address)
    return found


def _configured(plan: Plan, address: str) -> dict[str, Any]:
    found: dict[str, Any] = next(
        r for r in plan["configuration"]["root_module"]["resources"] if r["address"] == address
    )
    return found


def _drop(plan: Plan, address: str) -> None:
    """Remove a resource from the plan entirely, as if the HCL never declared it."""
    plan["planned_values"]["root_module"]["resources"] = [
        r for r in plan["planned_values"]["root_module"]["resources"] if r["address"] != address
    ]
    plan["resource_changes"] = [c for c in plan["resource_changes"] if c["address"] != address]
    module = plan["configuration"]["root_module"]
    module["resources"] = [r for r in module["resources"] if r["address"] != address]


def _at(document: Any, pointer: tuple[str | int, ...]) -> Any:
    for step in pointer:
        document = document[step]
    return document


def test_the_fixed_plan_passes_every_check(tmp_path: Path) -> None:
    assert _findings(_plan(), tmp_path) == set()


def test_blocks_hold_what_the_configuration_writes_with_references_put_back(tmp_path: Path) -> None:
    config = load(_write(_plan(), tmp_path))
    assert (config.suffix, config.suffix_source) == ("pr7", "variable suffix")

    bucket = config.lookup("aws_s3_bucket.logs")
    assert bucket is not None and dict(bucket.body) == {
        "bucket": "svc-logs-pr7",  # known after plan; force_destroy and the other defaults are not written
        "//": {"plan": {"address": "aws_s3_bucket.logs"}},
    }
    function = config.lookup("aws_lambda_function.api")
    assert function is not None
    assert function.block("environment")["variables"] == {
        "LOG_BUCKET": "${aws_s3_bucket.logs.bucket}",  # a known value equal to the referenced attribute's
        "KEY_ARN": "${aws_kms_key.k.arn}*",  # unknown until apply: the reference, then text the plan hides
    }
    assert function.get("role") == "${aws_iam_role.fn.arn}*" and function.get("depends_on") == [
        "aws_cloudwatch_log_group.api"
    ]
    encryption = config.lookup("aws_s3_bucket_server_side_encryption_configuration.logs")
    assert encryption is not None
    assert encryption.blocks("rule")[0]["apply_server_side_encryption_by_default"] == [
        {"kms_master_key_id": "${aws_kms_key.k.arn}*", "sse_algorithm": "aws:kms"}
    ]
    # A data source read at apply comes from resource_changes, one read while planning from prior_state.
    grants, trust = (
        config.lookup("data.aws_iam_policy_document.grants"),
        config.lookup("data.aws_iam_policy_document.trust"),
    )
    assert grants is not None and grants.blocks("statement")[0]["resources"] == ["${aws_s3_bucket.logs.arn}*"]
    assert trust is not None and trust.pointer[0] == "prior_state"


def test_every_block_points_at_its_place_in_the_plan_file(tmp_path: Path) -> None:
    path = _write(_plan(), tmp_path)
    document = json.loads(path.read_text())
    config = load(path)
    assert config.lookup("aws_s3_bucket.logs").pointer == ("planned_values", "root_module", "resources", 12)  # type: ignore[union-attr]
    for resource in [*config.resources, *config.data_sources]:
        located = _at(document, resource.pointer)
        assert located["type"] == resource.type and located["mode"] == ("data" if resource.data else "managed")


def test_module_and_counted_instances_are_reported_by_their_terraform_address(tmp_path: Path) -> None:
    plan = _plan()
    queue = plan["planned_values"]["root_module"]["child_modules"][0]["resources"][1]
    queue["values"]["name"] = "svc-jobs-1"
    report = check_files([_write(plan, tmp_path)])
    [finding] = report.findings
    assert (finding.check_id, finding.resource, finding.location) == (
        "PF101",
        "module.queue.aws_sqs_queue.jobs[1]",
        "module.queue.aws_sqs_queue.jobs[1]",
    )


def _no_permission(plan: Plan) -> set[tuple[str, str]]:
    _drop(plan, "aws_lambda_permission.apigw")
    return {("PF501", "aws_api_gateway_integration.get_items")}


def _no_triggers(plan: Plan) -> set[tuple[str, str]]:
    deployment = _configured(plan, "aws_api_gateway_deployment.api")
    del deployment["expressions"]["triggers"]
    del deployment["depends_on"]
    return {("PF601", "aws_api_gateway_deployment.api"), ("PF602", "aws_api_gateway_deployment.api")}


def _bucket_without_suffix(plan: Plan) -> set[tuple[str, str]]:
    _planned(plan, "aws_s3_bucket.logs")["values"]["bucket"] = "svc-logs"
    function = _planned(plan, "aws_lambda_function.api")
    function["values"]["environment"][0]["variables"]["LOG_BUCKET"] = "svc-logs"
    return {("PF101", "aws_s3_bucket.logs")}


def _no_grant_on_the_bucket(plan: Plan) -> set[tuple[str, str]]:
    document = _configured(plan, "data.aws_iam_policy_document.grants")
    document["expressions"]["statement"] = document["expressions"]["statement"][1:]
    change = next(c for c in plan["resource_changes"] if c["address"] == "data.aws_iam_policy_document.grants")
    for key in ("after", "after_unknown"):
        change["change"][key]["statement"] = change["change"][key]["statement"][1:]
    return {("PF201", "aws_lambda_function.api")}


def _public_bucket(plan: Plan) -> set[tuple[str, str]]:
    _drop(plan, "aws_s3_bucket_public_access_block.logs")
    return {("PF702", "aws_s3_bucket.logs")}


@pytest.mark.parametrize(
    "defect", [_no_permission, _no_triggers, _bucket_without_suffix, _no_grant_on_the_bucket, _public_bucket]
)
def test_a_defect_written_into_the_plan_is_found(tmp_path: Path, defect: Any) -> None:
    plan = copy.deepcopy(_plan())
    expected = defect(plan)
    assert _findings(plan, tmp_path) == expected


def test_a_suffix_given_on_the_command_line_wins(tmp_path: Path) -> None:
    report = check_files([_write(_plan(), tmp_path)], suffix="pr8")
    assert {(f.check_id, f.resource) for f in report.findings} == {
        ("PF101", address)
        for address in (
            "aws_api_gateway_rest_api.api",
            "aws_cloudwatch_log_group.api",
            "aws_iam_role.fn",
            "aws_lambda_function.api",
            "aws_s3_bucket.logs",
            "module.queue.aws_sqs_queue.jobs[0]",
            "module.queue.aws_sqs_queue.jobs[1]",
        )
    }


STATE = {
    "format_version": "1.0",
    "terraform_version": "1.10.5",
    "values": {"root_module": {"resources": []}},
}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (STATE, "a Terraform state"),
        ({**_plan(), "format_version": "2.0"}, "format_version '2.0' is not supported"),
        ({"format_version": "1.2", "planned_values": "x"}, "a plan JSON of a shape Terraform does not write"),
        ({"name": "a package.json"}, "not Terraform JSON, nor a plan JSON"),
        ([1, 2], "not Terraform JSON"),
    ],
    ids=["state", "plan-format-2", "malformed-plan", "other-json", "not-an-object"],
)
def test_what_is_neither_terraform_json_nor_a_plan_is_refused(tmp_path: Path, document: object, message: str) -> None:
    path = tmp_path / "input.json"
    path.write_text(json.dumps(document))
    with pytest.raises(UnusableInput, match=message):
        load(path)


def test_a_state_file_exits_2_and_says_how_to_write_a_plan(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    path.write_text(json.dumps(STATE))
    result = subprocess.run(
        [sys.executable, "-m", "payments_cli.main", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2 and result.stdout == ""
    assert "a Terraform state" in result.stderr and HOW_TO_PLAN in result.stderr


def test_terraform_json_is_still_read_as_terraform_json(tmp_path: Path) -> None:
    path = tmp_path / "main.tf.json"
    path.write_text(json.dumps({"resource": {"aws_sqs_queue": {"q": {"name": "svc-q-pr7"}}}}))
    config = load(path, suffix="pr7")
    assert isinstance(config, Configuration) and [r.address for r in config.resources] == ["aws_sqs_queue.q"]


def _change(plan: Plan, address: str) -> dict[str, Any]:
    found: dict[str, Any] = next(c for c in plan["resource_changes"] if c["address"] == address)["change"]
    return found


def test_a_map_unknown_as_a_whole_is_one_entry_per_reference(tmp_path: Path) -> None:
    """Terraform marks a whole map unknown when one member is (``"variables": true``) and shows no keys."""
    plan = _plan()
    del _planned(plan, "aws_lambda_function.api")["values"]["environment"][0]["variables"]
    _change(plan, "aws_lambda_function.api")["after_unknown"]["environment"] = [{"variables": True}]
    config = load(_write(plan, tmp_path / "whole"))
    function = config.lookup("aws_lambda_function.api")
    assert function is not None and function.block("environment")["variables"] == {
        "aws_s3_bucket.logs.bucket": "${aws_s3_bucket.logs.bucket}",
        "aws_kms_key.k.arn": "${aws_kms_key.k.arn}*",
    }
    assert _findings(plan, tmp_path / "clean") == set()
    _no_grant_on_the_bucket(plan)
    assert _findings(plan, tmp_path / "defect") == {("PF201", "aws_lambda_function.api")}


def test_unknown_list_elements_become_one_element_per_reference(tmp_path: Path) -> None:
    plan = _plan()
    statement = _configured(plan, "data.aws_iam_policy_document.grants")["expressions"]["statement"][1]
    statement["resources"]["references"] = ["aws_kms_key.k.arn", "aws_kms_key.k", "aws_s3_bucket.logs.arn"]
    _change(plan, "data.aws_iam_policy_document.grants")["after_unknown"]["statement"][1]["resources"] = [True, True]
    config = load(_write(plan, tmp_path))
    grants = config.lookup("data.aws_iam_policy_document.grants")
    assert grants is not None
    assert grants.blocks("statement")[1]["resources"] == ["${aws_kms_key.k.arn}*", "${aws_s3_bucket.logs.arn}*"]


def test_two_plans_that_would_both_create_a_name_are_told_apart_by_terraform_addresses(tmp_path: Path) -> None:
    paths = []
    for folder, suffix in (("a", "pr7"), ("b", "pr8")):
        plan = json.loads(json.dumps(_plan()).replace("pr7", suffix))
        plan["planned_values"]["root_module"]["child_modules"][0]["resources"][1]["values"]["name"] = "svc-jobs-1"
        paths.append(_write(plan, tmp_path / folder))
    report = check_files(paths)
    collisions = [f for f in report.findings if f.check_id == "PF110"]
    queue = "module.queue.aws_sqs_queue.jobs[1]"
    assert [(Path(f.file).parent.name, f.resource, f.location) for f in collisions] == [
        ("a", queue, queue),
        ("b", queue, queue),
    ]
    assert f"{queue} in {paths[1]}" in collisions[0].message and "'svc-jobs-1'" in collisions[0].message
