"""The SARIF report's locations and rule links, rendered in process from a real check run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from preflight.model import Finding, Severity
from preflight.output.sarif import render
from preflight.registry import all_checks
from preflight.runner import Report, check_files


def _results(report: Report) -> list[dict[str, Any]]:
    return list(json.loads(render(report))["runs"][0]["results"])


def _stack(tmp_path: Path) -> Path:
    """A small stack, one key per line as cdk.tf.json is: a public bucket silenced without a reason,
    and an unencrypted state backend."""
    document = {
        "terraform": {"backend": {"s3": {"bucket": "payment-tfstate-dev-pr1", "use_lockfile": True}}},
        "resource": {
            "aws_s3_bucket": {
                "logs": {
                    "bucket": "payment-logs-dev-pr1",
                    "acl": "public-read",
                    "//": {"preflight_skip": {"PF711": "no"}},
                }
            }
        },
    }
    path = tmp_path / "cdk.tf.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def test_results_point_at_the_line_of_their_resource_or_at_the_file(tmp_path: Path) -> None:
    path = _stack(tmp_path)
    results = _results(check_files([path], suffix="pr1"))
    line_of_logs = path.read_text().splitlines().index('      "logs": {') + 1
    located = {
        (r["ruleId"], r["properties"]["resource"]): r["locations"][0]["physicalLocation"].get("region") for r in results
    }
    assert located[("PF706", "terraform.backend.s3")] is None, "the backend has no resource line"
    bucket = [key for key in located if key[1] == "aws_s3_bucket.logs"]
    assert {rule for rule, _ in bucket} >= {"PF000", "PF701", "PF702", "PF711"}
    assert [located[key] for key in bucket] == [{"startLine": line_of_logs}] * len(bucket)


def test_only_registered_checks_carry_a_rule_index(tmp_path: Path) -> None:
    results = _results(check_files([_stack(tmp_path)], suffix="pr1"))
    ids = [check.id for check in all_checks()]
    for result in results:
        if result["ruleId"] == "PF000":
            assert "ruleIndex" not in result
        else:
            assert ids[result["ruleIndex"]] == result["ruleId"]
    assert any(r["ruleId"] == "PF000" for r in results)


def test_a_finding_whose_file_is_gone_or_lacks_the_resource_has_no_region(tmp_path: Path) -> None:
    present = tmp_path / "cdk.tf.json"
    present.write_text('{\n  "resource": {}\n}\n')

    def finding(file: Path) -> Finding:
        return Finding("PF701", Severity.ERROR, "aws_s3_bucket.logs", "", "no encryption", "add one", str(file))

    report = Report((), (finding(tmp_path / "gone.tf.json"), finding(present)), 0.0)
    assert [r["locations"][0]["physicalLocation"] for r in _results(report)] == [
        {"artifactLocation": {"uri": (tmp_path / "gone.tf.json").as_posix()}},
        {"artifactLocation": {"uri": present.as_posix()}},
    ]
