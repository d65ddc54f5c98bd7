"""The JSON and text reports of runs with findings, suppressed findings, baselined ones and crashed checks."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

from preflight.loader import load
from preflight.model import CheckCrash, Finding, Severity
from preflight.output import json_report, text
from preflight.runner import Report

FILE = "stacks/dev/cdk.tf.json"


def _finding(check_id: str, severity: Severity, resource: str = "aws_s3_bucket.logs", **extra: str) -> Finding:
    return Finding(check_id, severity, resource, "", f"{check_id} message", f"{check_id} fix", FILE, **extra)


def _report(tmp_path: Path) -> Report:
    path = tmp_path / "cdk.tf.json"
    path.write_text('{"resource": {"aws_s3_bucket": {"logs": {"bucket": "b"}}}}')
    return Report(
        (load(path),),
        (
            _finding("PF701", Severity.ERROR, location="payments-dev-pr1/storage/logs"),
            _finding("PF705", Severity.WARNING, "aws_cloudwatch_log_group.logs"),
            _finding("PF903", Severity.NOTE),
        ),
        0.012,
        suppressed=(_finding("PF711", Severity.ERROR, suppression="the public site bucket is public by design"),),
        crashes=(CheckCrash("PF202", FILE, "KeyError: 'Statement'"),),
    )


def test_json_is_wrapped_with_tool_version_files_and_counts(tmp_path: Path) -> None:
    report = _report(tmp_path)
    document = json.loads(json_report.render(report, baselined=4))
    assert document["tool"] == "preflight"
    assert document["version"] == metadata.version("payment-platform")
    assert document["files"] == [str(tmp_path / "cdk.tf.json")]
    assert document["counts"] == {"error": 1, "warning": 1, "note": 1, "suppressed": 1, "baselined": 4}
    assert [f["check_id"] for f in document["findings"]] == ["PF701", "PF705", "PF903"]
    assert document["findings"][0] == {
        "check_id": "PF701",
        "severity": "error",
        "resource": "aws_s3_bucket.logs",
        "attribute": "",
        "message": "PF701 message",
        "fix": "PF701 fix",
        "file": FILE,
        "location": "payments-dev-pr1/storage/logs",
    }
    assert document["findings"][1]["location"] == "aws_cloudwatch_log_group.logs", "the address until one is known"
    [suppressed] = document["suppressed"]
    assert (suppressed["check_id"], suppressed["reason"]) == ("PF711", "the public site bucket is public by design")
    assert document["crashes"] == [{"check_id": "PF202", "file": FILE, "error": "KeyError: 'Statement'"}]


def test_json_without_a_baseline_has_no_baselined_count() -> None:
    document = json.loads(json_report.render(Report((), (), 0.0)))
    assert document["counts"] == {"error": 0, "warning": 0, "note": 0, "suppressed": 0}
    assert document["findings"] == document["suppressed"] == document["crashes"] == []


def test_text_shows_crashes_and_calls_the_run_incomplete(tmp_path: Path) -> None:
    lines = text.render(_report(tmp_path), baselined=4).splitlines()
    crashed = lines.index("checks that crashed (a bug in preflight; what they would find is missing):")
    assert lines[crashed + 1] == f"  PF202 on {FILE}: KeyError: 'Statement'"
    assert lines[-1].startswith(
        "preflight INCOMPLETE (1 check run(s) crashed): 1 error(s), 1 warning(s), 1 suppressed, 4 baselined in "
        "1 file(s)"
    )


def test_text_counts_suppressed_findings_and_says_passed_without_errors() -> None:
    report = Report((), (), 0.0, suppressed=(_finding("PF711", Severity.ERROR, suppression="x" * 12),))
    assert (
        text.render(report).splitlines()[-1].startswith("preflight passed: 0 error(s), 0 warning(s), 1 suppressed in")
    )
    assert "baselined" not in text.render(report)
