"""``payments check`` as a user and a CI job run it: formats, exit codes, unusable input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import jsonschema
import pytest

from payments_cli import main as cli
from payments_cli.commands import EXIT_USAGE
from payments_infra.lambda_build import LambdaPackage
from preflight import registry
from preflight.model import Configuration, Severity
from preflight.registry import Issue, all_checks
from tests.preflight.conftest import Fixture
from tests.preflight.deploy_failures import REPRODUCTIONS

SCHEMA = json.loads((Path(__file__).parent / "sarif-schema-2.1.0.json").read_text())


def _payments(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "payments_cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture
def defective(stacks: dict[str, Fixture], tmp_path: Path) -> Path:
    """The dev stack without the grant on its log bucket and without API Gateway's invoke permissions, beside
    (a link to) its real Lambda assets."""
    fixture = stacks["dev"]
    document = fixture.document()
    REPRODUCTIONS["log-bucket-access-denied"](document)
    REPRODUCTIONS["api-invoke-permission-missing"](document)
    folder = tmp_path / "stack"
    folder.mkdir()
    (folder / "assets").symlink_to(fixture.path.parent / "assets")
    path = folder / "cdk.tf.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def test_clean_stacks_exit_0_with_a_summary(stacks: dict[str, Fixture]) -> None:
    result = _payments("check", *(str(f.path) for f in stacks.values()))
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(
        r"^preflight passed: 0 error\(s\), 0 warning\(s\), \d+ suppressed in 5 file\(s\)", result.stdout, re.M
    )


def test_text_groups_findings_by_resource_and_exits_1(defective: Path) -> None:
    result = _payments("check", str(defective))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == str(defective)
    assert any(line.startswith("  aws_api_gateway_integration.") for line in lines)
    assert any("ERROR   PF501" in line for line in lines) and any("ERROR   PF201" in line for line in lines)
    assert any(line.strip().startswith("fix:") for line in lines)
    assert "preflight FAILED" in lines[-1]


def test_json_is_wrapped_with_version_files_counts_and_findings(defective: Path) -> None:
    result = _payments("check", "--format", "json", str(defective))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert (report["tool"], report["files"], report["crashes"]) == ("preflight", [str(defective)], [])
    findings = report["findings"]
    assert findings
    for finding in findings:
        assert {"check_id", "severity", "resource", "attribute", "message", "fix", "file", "location"} <= finding.keys()
        assert finding["severity"] in ("error", "warning", "note")
    assert {f["check_id"] for f in findings} >= {"PF201", "PF501"}
    counts = report["counts"]
    assert counts["error"] == sum(f["severity"] == "error" for f in findings) > 0
    assert counts["suppressed"] == len(report["suppressed"])
    assert all(len(s["reason"]) >= 10 for s in report["suppressed"])


def test_sarif_is_valid_2_1_0(defective: Path) -> None:
    result = _payments("check", "--format", "sarif", str(defective))
    assert result.returncode == 1
    log = json.loads(result.stdout)
    jsonschema.validate(log, SCHEMA)
    run = log["runs"][0]
    rules = {rule["id"] for rule in run["tool"]["driver"]["rules"]}
    assert {r["ruleId"] for r in run["results"]} <= rules
    located = [r for r in run["results"] if "region" in r["locations"][0]["physicalLocation"]]
    assert located, "results point at the line of their resource"
    lines = defective.read_text().splitlines()
    for result in located:
        region = result["locations"][0]["physicalLocation"]["region"]
        # The region starts at the key of the resource's block, or of the attribute when the block has it.
        at = lines[region["startLine"] - 1][region["startColumn"] - 1 :]
        names = {result["properties"]["resource"].rsplit(".", 1)[1], result["properties"]["attribute"].split(".")[-1]}
        assert any(at.startswith(f'"{name}":') for name in names), (result["ruleId"], at)


def test_sarif_of_a_clean_stack_is_valid_with_only_suppressed_results(stacks: dict[str, Fixture]) -> None:
    result = _payments("check", "--format", "sarif", str(stacks["prod"].path))
    assert result.returncode == 0
    log = json.loads(result.stdout)
    jsonschema.validate(log, SCHEMA)
    results = log["runs"][0]["results"]
    assert [r for r in results if "suppressions" not in r] == []
    for result in results:  # what the stack silences stays in the log, dismissed with its reason
        [suppression] = result["suppressions"]
        assert suppression["kind"] == "inSource" and len(suppression["justification"]) >= 10


def test_the_schema_rejects_a_broken_log() -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": "2.1.0", "runs": [{"results": []}]}, SCHEMA)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ('{"name": "a package.json"}', "not Terraform JSON"),
        ("[1, 2]", "not Terraform JSON"),
        ('{"resource": {"aws_s3_bucket": ["x"]}}', "must be an object"),
        (b"\xff\xfe\x00", "cannot read it"),
    ],
)
def test_unusable_input_exits_2_with_the_reason(tmp_path: Path, content: str | bytes | None, message: str) -> None:
    path = tmp_path / "input.tf.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    result = _payments("check", "--format", "json", str(path))
    assert result.returncode == 2
    assert message in result.stderr and str(path) in result.stderr
    assert result.stdout == ""


def test_one_unusable_file_among_good_ones_exits_2(stacks: dict[str, Fixture], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("nope")
    assert _payments("check", str(stacks["dev"].path), str(bad)).returncode == 2


def test_suffix_flag_overrides_the_inferred_suffix(stacks: dict[str, Fixture]) -> None:
    result = _payments("check", "--format", "json", "--suffix", "pr43", str(stacks["dev"].path))
    assert result.returncode == 1
    assert {f["check_id"] for f in json.loads(result.stdout)["findings"]} == {"PF101"}


def test_without_files_it_synthesizes_then_checks(tmp_path: Path, lambda_zip: LambdaPackage) -> None:
    result = _payments("check", "--env", "staging", "--suffix", "pf1", "--package", str(lambda_zip.path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "in 2 file(s)" in result.stdout
    assert (tmp_path / "cdktf.out" / "stacks" / "payments-staging-pf1" / "cdk.tf.json").is_file()


def test_without_files_or_suffix_it_says_what_to_give(tmp_path: Path) -> None:
    result = _payments("check", cwd=tmp_path)
    assert result.returncode == 2 and "--suffix" in result.stderr


def test_list_and_help_teach() -> None:
    listed = _payments("check", "--list")
    assert listed.returncode == 0 and "why:" in listed.stdout
    assert [line.split()[0] for line in listed.stdout.splitlines() if line.startswith("PF")] == [
        c.id for c in all_checks()
    ]
    helped = _payments("check", "--help")
    assert helped.returncode == 0
    for words in ("--format", "sarif", "preflight_skip", "Exit status", "plan JSON", "terraform show -json"):
        assert words in helped.stdout
    for words in ("--baseline FILE", "--write-baseline FILE", "--reason WHY", "crashed (never 1)"):
        assert words in " ".join(helped.stdout.split())


def test_the_list_names_the_deploy_failures_each_check_prevents() -> None:
    listed = _payments("check", "--list").stdout
    entries = {entry.split()[0]: entry for entry in listed.split("\n\n") if entry.startswith("PF")}
    for check in all_checks():
        shown = f"prevents: {', '.join(check.prevents)}"
        assert (shown in entries[check.id]) is bool(check.prevents), check.id
    assert "prevents: log-bucket-access-denied\n" in entries["PF201"]


def _crashing(monkeypatch: pytest.MonkeyPatch, folder: Path) -> Path:
    """A check that raises, registered for this test only, and a stack with an error finding besides."""
    all_checks()
    monkeypatch.setattr(registry, "REGISTRY", dict(registry.REGISTRY))

    def broken(config: Configuration) -> Iterable[Issue]:
        raise KeyError("Statement")

    registry.check("PF799", title="t", severity=Severity.ERROR, defect_class=7, rationale="r", fix="f")(broken)
    path = folder / "cdk.tf.json"
    path.write_text(json.dumps({"resource": {"aws_s3_bucket": {"logs": {"bucket": "logs", "acl": "public-read"}}}}))
    return path


@pytest.mark.parametrize("format", ["text", "json", "sarif"])
def test_a_crashed_check_exits_2_even_with_error_findings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, format: str
) -> None:
    path = _crashing(monkeypatch, tmp_path)
    assert cli.main(["check", "--format", format, str(path)]) == EXIT_USAGE == 2
    captured = capsys.readouterr()
    assert "PF799" in captured.out and "KeyError" in captured.out and "PF702" in captured.out
    assert "1 check run(s) crashed" in captured.err


def test_a_crashed_run_writes_no_baseline(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = _crashing(monkeypatch, tmp_path)
    baseline = tmp_path / "b.json"
    assert cli.main(["check", str(path), "--write-baseline", str(baseline), "--reason", "accepted for now"]) == 2
    assert not baseline.exists() and "not written" in capsys.readouterr().err
