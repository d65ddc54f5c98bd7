"""Baselines through the real ``payments check``: the round trip, reasons, stable fingerprints, refusals."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from preflight.baseline import Baseline, Entry
from preflight.model import Finding, Severity
from tests.cli.command import payments

REASON = "accepted before 2026-12"


def _bucket(name: str, stack: str) -> dict[str, Any]:
    return {"bucket": f"payment-{name}-{stack}-pr1", "acl": "public-read"}


def _stack(folder: Path, *buckets: str, indent: int = 2) -> Path:
    """A stack of public, unencrypted buckets (errors), written with ``indent``; bucket names differ from
    stack to stack (two stacks creating one name would be a finding of its own)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cdk.tf.json"
    document = {"resource": {"aws_s3_bucket": {name: _bucket(name, folder.name) for name in buckets}}}
    path.write_text(json.dumps(document, indent=indent))
    return path


def _json(*args: str, cwd: Path) -> tuple[int, dict[str, Any]]:
    result = payments("check", "--format", "json", *args, cwd=cwd)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def test_round_trip_reports_only_new_findings_from_any_directory(tmp_path: Path) -> None:
    _stack(tmp_path / "stacks" / "dev", "logs")
    written = payments(
        "check", "stacks/dev/cdk.tf.json", "--write-baseline", "baseline.json", "--reason", REASON, cwd=tmp_path
    )
    assert written.returncode == 0, written.stderr
    assert "preflight passed: 0 error(s), 0 warning(s), 0 suppressed, " in written.stdout
    entries = json.loads((tmp_path / "baseline.json").read_text())["entries"]
    assert entries and {e["file"] for e in entries} == {"stacks/dev/cdk.tf.json"}
    assert {e["reason"] for e in entries} == {REASON}
    assert f"wrote {len(entries)} entries to baseline.json" in written.stderr

    # Reformatted (every line moves), checked from another directory: still all baselined.
    _stack(tmp_path / "stacks" / "dev", "logs", indent=6)
    code, report = _json(
        "../../stacks/dev/cdk.tf.json", "--baseline", "../../baseline.json", cwd=tmp_path / "stacks" / "dev"
    )
    assert (code, report["findings"], report["counts"]["baselined"]) == (0, [], len(entries))

    _stack(tmp_path / "stacks" / "dev", "logs", "assets")
    code, report = _json("stacks/dev/cdk.tf.json", "--baseline", "baseline.json", cwd=tmp_path)
    assert code == 1
    assert {f["resource"] for f in report["findings"]} == {"aws_s3_bucket.assets"}
    assert report["counts"]["baselined"] == len(entries)


def test_the_same_address_in_another_stack_is_not_baselined(tmp_path: Path) -> None:
    _stack(tmp_path / "dev", "logs")
    _stack(tmp_path / "prod", "logs")
    assert (
        payments("check", "dev/cdk.tf.json", "--write-baseline", "b.json", "--reason", REASON, cwd=tmp_path).returncode
        == 0
    )
    code, report = _json("dev/cdk.tf.json", "prod/cdk.tf.json", "--baseline", "b.json", cwd=tmp_path)
    assert code == 1 and {f["file"] for f in report["findings"]} == {"prod/cdk.tf.json"}


def test_text_says_how_many_were_baselined(tmp_path: Path) -> None:
    _stack(tmp_path, "logs")
    payments("check", "cdk.tf.json", "--write-baseline", "b.json", "--reason", REASON, cwd=tmp_path)
    count = len(json.loads((tmp_path / "b.json").read_text())["entries"])
    result = payments("check", "cdk.tf.json", "--baseline", "b.json", cwd=tmp_path)
    assert result.returncode == 0
    assert f", {count} baselined in 1 file(s)" in result.stdout.splitlines()[-1]


def test_writing_needs_a_reason_and_writes_nothing_without_one(tmp_path: Path) -> None:
    _stack(tmp_path, "logs")
    for reason in ([], ["--reason", "short"], ["--reason", "         x"]):
        result = payments("check", "cdk.tf.json", "--write-baseline", "b.json", *reason, cwd=tmp_path)
        assert result.returncode == 2 and "--reason" in result.stderr, result.stderr
        assert result.stdout == ""
        assert sorted(p.name for p in tmp_path.iterdir()) == ["cdk.tf.json"], "nothing written, no temporary file"


def test_rewriting_keeps_each_entrys_reason_and_gives_new_ones_the_new_reason(tmp_path: Path) -> None:
    _stack(tmp_path, "logs")
    payments("check", "cdk.tf.json", "--write-baseline", "b.json", "--reason", REASON, cwd=tmp_path)
    _stack(tmp_path, "logs", "assets")
    no_reason = payments("check", "cdk.tf.json", "--write-baseline", "b.json", cwd=tmp_path)
    assert no_reason.returncode == 2 and "aws_s3_bucket.assets" in no_reason.stderr
    later = "the assets bucket goes away with issue 14"
    assert (
        payments("check", "cdk.tf.json", "--write-baseline", "b.json", "--reason", later, cwd=tmp_path).returncode == 0
    )
    reasons = {(e["resource"], e["reason"]) for e in json.loads((tmp_path / "b.json").read_text())["entries"]}
    assert reasons == {("aws_s3_bucket.logs", REASON), ("aws_s3_bucket.assets", later)}


def test_the_written_file_is_a_normal_file_with_no_temporary_left(tmp_path: Path) -> None:
    _stack(tmp_path, "logs")
    payments("check", "cdk.tf.json", "--write-baseline", "b.json", "--reason", REASON, cwd=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "cdk.tf.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((tmp_path / "b.json").stat().st_mode) == 0o666 & ~umask


def test_a_baseline_in_a_missing_folder_is_exit_2(tmp_path: Path) -> None:
    _stack(tmp_path, "logs")
    result = payments("check", "cdk.tf.json", "--write-baseline", "no/b.json", "--reason", REASON, cwd=tmp_path)
    assert result.returncode == 2 and "cannot write it" in result.stderr


ENTRY = {
    "check_id": "PF701",
    "file": "cdk.tf.json",
    "resource": "aws_s3_bucket.logs",
    "attribute": "",
    "reason": REASON,
}


def _document(*entries: dict[str, Any]) -> str:
    return json.dumps({"tool": "preflight", "format": 1, "entries": list(entries)})


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "not JSON"),
        ('{"tool": "preflight", "tool": "preflight", "format": 1, "entries": []}', "duplicate key 'tool'"),
        ('{"tool": "preflight", "format": NaN, "entries": []}', "NaN is not JSON"),
        ("[]", "not a preflight baseline"),
        ('{"tool": "checkov", "format": 1, "entries": []}', "not a preflight baseline"),
        ('{"tool": "preflight", "format": 2, "entries": []}', "not a preflight baseline of format 1"),
        ('{"tool": "preflight", "format": 1, "entries": {}}', "'entries' must be a list"),
        (_document({**ENTRY, "reason": ""}), "entry 1 (PF701 on aws_s3_bucket.logs) has no reason"),
        (
            _document(ENTRY, {**ENTRY, "reason": "   too short   "}),
            "entry 2 (PF701 on aws_s3_bucket.logs) has no reason",
        ),
        (_document({k: v for k, v in ENTRY.items() if k != "reason"}), "entry 1 must be an object with string"),
        (_document({**ENTRY, "attribute": None}), "entry 1 must be an object with string"),
        (b"\xff\xfe", "cannot read it"),
    ],
)
def test_an_unusable_baseline_is_exit_2_with_the_reason_and_nothing_written(
    tmp_path: Path, content: str | bytes | None, message: str
) -> None:
    _stack(tmp_path, "logs")
    baseline = tmp_path / "b.json"
    if isinstance(content, bytes):
        baseline.write_bytes(content)
    elif content is not None:
        baseline.write_text(content)
    before = baseline.read_bytes() if baseline.exists() else None
    for flag, extra in (("--baseline", []), ("--write-baseline", ["--reason", REASON])):
        if flag == "--write-baseline" and content is None:
            continue  # writing a new file is the normal case
        result = payments("check", "cdk.tf.json", flag, "b.json", *extra, cwd=tmp_path)
        assert result.returncode == 2, result.stdout + result.stderr
        assert message in result.stderr and "b.json" in result.stderr
        assert result.stdout == ""
        assert (baseline.read_bytes() if baseline.exists() else None) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["cdk.tf.json", *(["b.json"] if before is not None else [])]
    )


def test_a_directory_is_not_a_baseline(tmp_path: Path) -> None:
    _stack(tmp_path, "logs")
    (tmp_path / "b.json").mkdir()
    result = payments("check", "cdk.tf.json", "--baseline", "b.json", cwd=tmp_path)
    assert result.returncode == 2 and "cannot read it" in result.stderr


def test_flags_that_do_not_go_together_are_exit_2(tmp_path: Path) -> None:
    _stack(tmp_path, "logs")
    alone = payments("check", "cdk.tf.json", "--reason", REASON, cwd=tmp_path)
    assert alone.returncode == 2 and "--reason goes with --write-baseline" in alone.stderr
    both = payments("check", "cdk.tf.json", "--baseline", "a.json", "--write-baseline", "b.json", cwd=tmp_path)
    assert both.returncode == 2 and "not allowed with" in both.stderr


def test_the_fingerprint_is_check_file_resource_attribute_not_line_or_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    baseline = Baseline(tmp_path / "config" / "b.json", ())
    finding = Finding(
        "PF702", Severity.ERROR, "aws_s3_bucket.logs", "acl", "ACL public-read", "fix", "stacks/a.tf.json"
    )
    monkeypatch.chdir(tmp_path)
    here = baseline.fingerprint(finding)
    assert here == ("PF702", "../stacks/a.tf.json", "aws_s3_bucket.logs", "acl")
    (tmp_path / "stacks").mkdir()
    monkeypatch.chdir(tmp_path / "stacks")
    moved = Finding("PF702", Severity.ERROR, "aws_s3_bucket.logs", "acl", "reworded", "other fix", "a.tf.json")
    assert baseline.fingerprint(moved) == here
    assert Entry(*here, reason=REASON).fingerprint == here
