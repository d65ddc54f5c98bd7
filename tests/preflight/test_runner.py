"""The runner: a check that raises is reported as a crash and the other checks still run; findings a resource
silences are kept with their reason instead of disappearing, and a silence without one is itself reported."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pytest

from payments_infra.synth import SynthResult
from preflight.model import CheckCrash, Configuration, Severity
from preflight.registry import REGISTRY, Check, CrossIssue, Issue
from preflight.runner import check_files, run
from tests.deployments import DEPLOYMENTS
from tests.preflight.conftest import Fixture
from tests.preflight.mutations import address, failing, findings, load_document, named


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
    monkeypatch.setitem(REGISTRY, "PF999", Check("PF999", *metadata, function=_across, across=True))


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
        CheckCrash("PF998", str(first), f"KeyError at test_runner.py:{raised}"),
        CheckCrash("PF998", str(second), f"KeyError at test_runner.py:{raised}"),
        CheckCrash("PF999", f"{first}, {second}", f"ValueError at test_runner.py:{across}"),
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


def test_a_silence_without_a_reason_on_a_project_stack_is_reported(stacks: dict[str, Fixture]) -> None:
    fixture = stacks["dev"]
    document = fixture.document()
    assert failing(document, fixture.path, "PF000") == set(), "the unmutated stack must pass"
    name, body = named(document, "aws_s3_bucket", "transaction-log/bucket")
    body["//"]["preflight_skip"] = {"PF711": "no"}
    assert failing(document, fixture.path, "PF000") == {address("aws_s3_bucket", name)}


def test_the_project_stacks_have_zero_findings(synthesized: SynthResult) -> None:
    for deployment in DEPLOYMENTS:
        for kind in ("bootstrap", "platform"):
            stack = synthesized.stack(deployment.environment, deployment.suffix, kind)
            assert findings(load_document(stack.path), stack.path) == [], stack.name


def test_a_reasoned_silence_silences_only_that_check_on_that_resource(stacks: dict[str, Fixture]) -> None:
    fixture = stacks["dev"]
    document = fixture.document()
    name, bucket = named(document, "aws_s3_bucket", "transaction-log/bucket")
    bucket["bucket"] = "payment-legacy-transaction-logs"
    bucket["acl"] = "public-read"
    assert failing(document, fixture.path, "PF101") == {address("aws_s3_bucket", name)}
    bucket["//"]["preflight_skip"] = {"PF101": "imported from the old account; renaming would lose its history"}
    assert failing(document, fixture.path, "PF101") == set()
    assert failing(document, fixture.path, "PF702") == {address("aws_s3_bucket", name)}, "other checks still apply"
    bucket["//"]["preflight_skip"] = {"PF999": "no such check exists anywhere"}
    assert {f.check_id for f in findings(document, fixture.path) if f.resource == address("aws_s3_bucket", name)} >= {
        "PF000",
        "PF101",
    }
