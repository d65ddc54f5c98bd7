"""The SARIF report: locations from a position-keeping parse, relative URIs, suppressions, crashed checks and
rule links, rendered in process from real files and validated against the SARIF 2.1.0 schema."""

from __future__ import annotations

import dataclasses
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from preflight.failures import FAILURES
from preflight.loader import load
from preflight.model import CheckCrash, Configuration, Finding, Resource, Severity
from preflight.output.sarif import render
from preflight.registry import all_checks
from preflight.runner import Report, check_files

SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())


def _run(report: Report, **options: Any) -> dict[str, Any]:
    log = json.loads(render(report, **options))
    jsonschema.validate(log, SCHEMA)
    return dict(log["runs"][0])


def _results(report: Report) -> list[dict[str, Any]]:
    return list(_run(report)["results"])


def _stack(folder: Path) -> Path:
    """A small stack, one key per line as cdk.tf.json is: a log group named "logs" before a bucket named
    "logs" (public, silenced without a reason), and an unencrypted state backend."""
    document = {
        "terraform": {"backend": {"s3": {"bucket": "payment-tfstate-dev-pr1", "use_lockfile": True}}},
        "resource": {
            "aws_cloudwatch_log_group": {"logs": {"name": "/aws/payments/logs-pr1", "retention_in_days": 30}},
            "aws_s3_bucket": {
                "logs": {
                    "bucket": "payment-logs-dev-pr1",
                    "acl": "public-read",
                    "//": {"preflight_skip": {"PF711": "no"}},
                }
            },
        },
    }
    path = folder / "cdk.tf.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def _line(path: Path, text: str) -> int:
    return path.read_text().splitlines().index(text) + 1


def _region(result: dict[str, Any]) -> dict[str, int] | None:
    return result["locations"][0]["physicalLocation"].get("region")  # type: ignore[no-any-return]


def test_a_finding_points_at_its_own_resource_not_the_first_line_with_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = _stack(tmp_path)
    group, bucket = _line(path, '    "aws_cloudwatch_log_group": {') + 1, _line(path, '    "aws_s3_bucket": {') + 1
    assert group < bucket and _line(path, '      "logs": {') == group, "the log group's logs comes first"
    by_rule = {(r["ruleId"], r["properties"]["attribute"]): _region(r) for r in _results(check_files([path]))}
    assert by_rule[("PF701", "")] == {"startLine": bucket, "startColumn": 7}, "the key of the bucket's block"
    assert by_rule[("PF705", "kms_key_id")] == {"startLine": group, "startColumn": 7}, "a missing attribute: its block"
    assert by_rule[("PF702", "acl")] == {"startLine": _line(path, '        "acl": "public-read",'), "startColumn": 9}
    skip = _line(path, '          "preflight_skip": {')
    assert by_rule[("PF000", "//.preflight_skip")] == {"startLine": skip, "startColumn": 11}


def test_a_finding_on_a_plan_points_at_the_resource_not_at_a_key_named_like_its_attribute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    plan = tmp_path / "plan.json"
    plan.write_text(
        '{"planned_values": {"root_module": {"resources": [\n'
        '  {"address": "aws_s3_bucket.a", "name": "a", "values": {"bucket": "x"}},\n'
        '  {"address": "aws_s3_bucket.b", "name": "b", "values": {"bucket": "y", "name": "n"}}\n'
        "]}}}\n"
    )
    pointer = ("planned_values", "root_module", "resources", 1)
    resource = Resource("aws_s3_bucket", "b", {"bucket": "y", "name": "n"}, pointer=pointer)
    configuration = Configuration(plan, {}, [resource], [])
    finding = Finding("PF101", Severity.ERROR, "aws_s3_bucket.b", "name", "fixed name", "add the suffix", str(plan))
    [result] = _results(Report((configuration,), (finding,), 0.0))
    assert _region(result) == {"startLine": 3, "startColumn": 3}


def test_the_backend_is_pointed_at_in_the_terraform_block(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _stack(tmp_path)
    backend = next(r for r in _results(check_files([path], suffix="pr1")) if r["ruleId"] == "PF706")
    line = _region(backend)
    assert line is not None and path.read_text().splitlines()[line["startLine"] - 1].strip().startswith('"s3"')


def test_files_under_the_working_directory_are_relative_to_srcroot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "stacks" / "dev pr1").mkdir(parents=True)
    path = _stack(tmp_path / "stacks" / "dev pr1")
    monkeypatch.chdir(tmp_path)
    run = _run(check_files([path], suffix="pr1"))
    assert run["originalUriBaseIds"] == {"%SRCROOT%": {"uri": tmp_path.as_uri() + "/"}}
    expected = {"uri": "stacks/dev%20pr1/cdk.tf.json", "uriBaseId": "%SRCROOT%"}
    assert run["artifacts"] == [{"location": expected}]
    assert {json.dumps(r["locations"][0]["physicalLocation"]["artifactLocation"]) for r in run["results"]} == {
        json.dumps(expected)
    }


def test_a_file_outside_the_working_directory_is_an_absolute_file_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "here").mkdir()
    path = _stack(tmp_path / "elsewhere")
    monkeypatch.chdir(tmp_path / "here")
    run = _run(check_files([Path("../elsewhere/cdk.tf.json")], suffix="pr1"))
    assert run["artifacts"] == [{"location": {"uri": path.as_uri()}}]


def test_suppressed_findings_stay_as_results_with_their_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _stack(tmp_path)
    report = check_files([path], suffix="pr1")
    silenced = Finding(
        "PF702",
        Severity.ERROR,
        "aws_s3_bucket.logs",
        "acl",
        "ACL public-read",
        "remove it",
        str(path),
        suppression="the public site must be readable by anyone",
    )
    results = _results(dataclasses.replace(report, suppressed=(silenced,)))
    kept = [r for r in results if "suppressions" in r]
    assert [r["properties"]["attribute"] for r in kept] == ["acl"]
    assert kept[0]["suppressions"][0]["kind"] == "inSource"
    assert kept[0]["suppressions"][0]["justification"] == "the public site must be readable by anyone"
    assert all("suppressions" not in r for r in results if r is not kept[0])


def test_a_suppression_points_at_where_it_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _stack(tmp_path)
    silenced = Finding(
        "PF711", Severity.ERROR, "aws_s3_bucket.logs", "", "public", "fix", str(path), suppression="x" * 12
    )
    configuration = load(path, suffix="pr1")
    [result] = _results(Report((configuration,), (), 0.0, suppressed=(silenced,)))
    where = result["suppressions"][0]["location"]["physicalLocation"]["region"]
    assert where == {"startLine": _line(path, '            "PF711": "no"'), "startColumn": 13}


def test_a_crashed_check_is_an_unsuccessful_invocation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    path = _stack(tmp_path)
    crash = CheckCrash("PF701", str(path), "KeyError: 'bucket'")
    run = _run(Report((load(path),), (), 0.0, crashes=(crash,)))
    [invocation] = run["invocations"]
    assert invocation["executionSuccessful"] is False
    [notification] = invocation["toolExecutionNotifications"]
    assert notification["level"] == "error"
    assert "PF701" in notification["message"]["text"] and "KeyError: 'bucket'" in notification["message"]["text"]
    rules = run["tool"]["driver"]["rules"]
    assert rules[notification["associatedRule"]["index"]]["id"] == "PF701"
    assert notification["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "cdk.tf.json"


def test_a_check_across_stacks_that_crashed_names_them_all_and_points_at_none(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = _stack(tmp_path / "a"), _stack(tmp_path / "b")
    crash = CheckCrash("PF801", f"{a}, {b}", "TypeError: boom")
    [notification] = _run(Report((load(a), load(b)), (), 0.0, crashes=(crash,)))["invocations"][0][
        "toolExecutionNotifications"
    ]
    assert f"crashed on {a}, {b}: TypeError: boom" in notification["message"]["text"]
    assert "locations" not in notification


def test_a_run_without_crashes_is_successful(tmp_path: Path) -> None:
    assert _run(check_files([_stack(tmp_path)], suffix="pr1"))["invocations"] == [
        {"executionSuccessful": True, "toolExecutionNotifications": []}
    ]


def test_the_logical_location_is_the_construct_path_or_the_address(tmp_path: Path) -> None:
    path = _stack(tmp_path)
    finding = Finding("PF701", Severity.ERROR, "aws_s3_bucket.logs", "", "no encryption", "add one", str(path))
    placed = dataclasses.replace(finding, location="payments-dev-pr1/storage/logs")
    results = _results(Report((), (finding, placed), 0.0))
    assert [r["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] for r in results] == [
        "aws_s3_bucket.logs",
        "payments-dev-pr1/storage/logs",
    ]


def test_the_tool_version_is_the_installed_one(tmp_path: Path) -> None:
    driver = _run(Report((), (), 0.0))["tool"]["driver"]
    assert driver["version"] == metadata.version("payment-platform")


def test_a_baselined_count_is_a_run_property() -> None:
    assert _run(Report((), (), 0.0), baselined=3)["properties"] == {"baselined": 3}
    assert "properties" not in _run(Report((), (), 0.0))


def test_each_rule_names_the_deploy_failures_its_check_prevents() -> None:
    rules = {rule["id"]: rule for rule in _run(Report((), (), 0.0))["tool"]["driver"]["rules"]}
    for check in all_checks():
        assert rules[check.id]["properties"]["prevents"] == list(check.prevents)
        assert set(check.prevents) <= set(FAILURES)
    assert rules["PF201"]["properties"]["prevents"] == ["log-bucket-access-denied"]
    assert rules["PF202"]["properties"]["prevents"] == []


def test_only_registered_checks_carry_a_rule_index(tmp_path: Path) -> None:
    results = _results(check_files([_stack(tmp_path)], suffix="pr1"))
    ids = [check.id for check in all_checks()]
    for result in results:
        if result["ruleId"] == "PF000":
            assert "ruleIndex" not in result
        else:
            assert ids[result["ruleIndex"]] == result["ruleId"]
    assert any(r["ruleId"] == "PF000" for r in results)


def test_a_finding_whose_file_is_gone_or_lacks_the_resource_has_no_region(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    present = tmp_path / "cdk.tf.json"
    present.write_text('{\n  "resource": {}\n}\n')

    def finding(file: Path) -> Finding:
        return Finding("PF701", Severity.ERROR, "aws_s3_bucket.logs", "", "no encryption", "add one", str(file))

    report = Report((), (finding(tmp_path / "gone.tf.json"), finding(present)), 0.0)
    assert [r["locations"][0]["physicalLocation"] for r in _results(report)] == [
        {"artifactLocation": {"uri": "gone.tf.json", "uriBaseId": "%SRCROOT%"}},
        {"artifactLocation": {"uri": "cdk.tf.json", "uriBaseId": "%SRCROOT%"}},
    ]


def test_a_finding_on_a_module_instance_of_a_plan_points_at_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Findings name the address Terraform shows (module.queue.aws_sqs_queue.jobs[1]); the region is found by
    that address too, not only by the block's internal name."""
    monkeypatch.chdir(tmp_path)
    plan = json.loads((Path(__file__).parent / "plans" / "service.plan.json").read_text())
    [queue] = plan["planned_values"]["root_module"]["child_modules"]
    queue["resources"][1]["values"]["name"] = "svc-jobs-shared"  # no suffix: PF101 on that instance alone
    for change in plan["resource_changes"]:
        if change["address"] == "module.queue.aws_sqs_queue.jobs[1]":
            change["change"]["after"]["name"] = "svc-jobs-shared"
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan, indent=1))
    [result] = [r for r in _results(check_files([path])) if r["ruleId"] == "PF101"]
    assert result["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "module.queue.aws_sqs_queue.jobs[1]"
    start = _region(result)
    assert start is not None
    lines = path.read_text().splitlines()
    assert lines[start["startLine"] - 1].strip() == "{", "the start of the instance's object"
    assert '"address": "module.queue.aws_sqs_queue.jobs[1]"' in lines[start["startLine"]]
