"""A check that raises is reported as a crash and the other checks still run; findings a resource
silences are kept with their reason instead of disappearing."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pytest

from payments_infra.synth import SynthResult
from preflight.model import CheckCrash, Configuration, Severity
from preflight.registry import REGISTRY, Check, CrossCheck, CrossIssue, Issue, run
from preflight.runner import check_files


def _statement_count(config: Configuration) -> Iterable[Issue]:
    """A check with a bug: it assumes every bucket has a policy."""
    for bucket in config.of_type("aws_s3_bucket"):
        yield Issue(bucket.address, "", f"{len(bucket.body['policy'])} statements")


def _across(configs: Sequence[Configuration]) -> Iterable[CrossIssue]:
    """A check across configurations with a bug."""
    raise ValueError(f"compared {len(configs)} configurations and gave up")


def _register(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both broken checks, for this test only."""
    metadata = ("t", Severity.ERROR, 7, (), "a check that fails on valid input", "f")
    monkeypatch.setitem(REGISTRY, "PF998", Check("PF998", *metadata, function=_statement_count))
    monkeypatch.setitem(REGISTRY, "PF999", CrossCheck("PF999", *metadata, function=_across))


def _file(folder: Path, document: Mapping[str, object]) -> Path:
    folder.mkdir()
    path = folder / "main.tf.json"
    path.write_text(json.dumps(document))
    return path


BUCKET = {"resource": {"aws_s3_bucket": {"logs": {"bucket": "svc-logs-pr1", "tags": {"Owner": "secret-team"}}}}}


def test_a_crashing_check_is_recorded_and_the_others_still_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _register(monkeypatch)
    first, second = _file(tmp_path / "a", BUCKET), _file(tmp_path / "b", BUCKET)
    report = check_files([first, second], suffix="pr1")
    # The type and the line that raised, never the message: messages quote values ("'3²'", a secret's name).
    raised = _statement_count.__code__.co_firstlineno + 3
    across = _across.__code__.co_firstlineno + 2
    assert report.crashes == (
        CheckCrash("PF998", str(first), f"KeyError at test_crashes.py:{raised}"),
        CheckCrash("PF998", str(second), f"KeyError at test_crashes.py:{raised}"),
        CheckCrash("PF999", f"{first}, {second}", f"ValueError at test_crashes.py:{across}"),
    )
    # Every other check ran: the bucket's own defects, and the name both files create.
    assert {f.check_id for f in report.findings} >= {"PF110", "PF701", "PF702", "PF711"}
    assert all("secret-team" not in crash.error and "policy" not in crash.error for crash in report.crashes)


def test_run_lets_the_exception_through_for_tests_and_library_callers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _register(monkeypatch)
    from preflight.loader import load

    with pytest.raises(KeyError, match="policy"):
        run(load(_file(tmp_path / "a", BUCKET), suffix="pr1"))


def test_what_the_project_silences_is_kept_with_its_reason(synthesized: SynthResult) -> None:
    report = check_files([synthesized.stack("dev", "pr42").path])
    assert report.findings == () and report.crashes == ()
    assert report.suppressed, "the project's stacks silence some checks with a reason"
    for finding in report.suppressed:
        assert finding.suppression and len(finding.suppression) >= 10
        assert finding.location.startswith("payments-dev-pr42/"), "the construct path where the silence is written"


def test_a_silence_without_a_reason_keeps_the_finding_active(tmp_path: Path) -> None:
    body = {"bucket": "legacy-logs", "//": {"preflight_skip": {"PF101": "old"}}}
    report = check_files([_file(tmp_path / "a", {"resource": {"aws_s3_bucket": {"logs": body}}})], suffix="pr1")
    assert {f.check_id for f in report.findings if f.resource == "aws_s3_bucket.logs"} >= {"PF000", "PF101"}
    assert [f for f in report.suppressed if f.check_id == "PF101"] == []


@pytest.mark.parametrize("expression", ["${var.environment}", "${merge(var.common, {BUCKET = aws_s3_bucket.b.id})}"])
def test_a_map_written_as_one_expression_is_read_not_crashed_on(tmp_path: Path, expression: str) -> None:
    """Terraform JSON allows an expression for a whole map: the checks read it as one entry."""
    function = {
        "function_name": "svc-f-pr1",
        "role": "${aws_iam_role.r.arn}",
        "image_uri": "registry/svc:1",
        "environment": {"variables": expression},
    }
    deployment = {"rest_api_id": "x", "triggers": expression}
    document = {
        "resource": {
            "aws_iam_role": {"r": {"name": "svc-r-pr1"}},
            "aws_s3_bucket": {"b": {"bucket": "svc-b-pr1"}},
            "aws_lambda_function": {"f": function},
            "aws_api_gateway_deployment": {"d": deployment},
        }
    }
    report = check_files([_file(tmp_path / "a", document)], suffix="pr1")
    assert report.crashes == ()
    needs_bucket = "aws_s3_bucket.b" in expression
    assert (
        ("PF201", "environment.variables.*") in {(f.check_id, f.attribute) for f in report.findings}
    ) is needs_bucket


def test_a_ttl_of_unicode_digits_is_not_judged_and_does_not_crash(tmp_path: Path) -> None:
    """ "3²".isdigit() is True, and int() refuses it: PF505 must look at decimal strings only."""
    authorizer = {"rest_api_id": "x", "authorizer_uri": "y", "type": "REQUEST"}
    for ttl, expected in (("3²", set()), ("301", {"PF505"}), ("300", set())):
        path = _file(
            tmp_path / f"ttl-{ttl}",
            {
                "resource": {
                    "aws_api_gateway_authorizer": {"a": {**authorizer, "authorizer_result_ttl_in_seconds": ttl}}
                }
            },
        )
        report = check_files([path], suffix="pr1")
        assert report.crashes == ()
        assert {f.check_id for f in report.findings if f.check_id == "PF505"} == expected, ttl
