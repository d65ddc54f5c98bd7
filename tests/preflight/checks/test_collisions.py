"""PF110 (``preflight.checks.collisions``): physical names two of the checked deployments would both
create, on the project's own stacks synthesized for two suffixes, and on small hand-written configurations
for the rules' edges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from payments_infra.synth import SynthResult
from preflight.runner import check_files
from tests.preflight.deploy_failures import REPRODUCTIONS
from tests.preflight.mutations import Document, address, load_document, named

SUFFIXES = ("pr42", "alice-dev")


def _stack(synthesized: SynthResult, suffix: str, kind: str = "platform") -> Path:
    return synthesized.stack("dev", suffix, kind).path


def _beside_assets(document: Document, original: Path, folder: Path) -> Path:
    """The document as a file in ``folder``, next to (a link to) the original stack's Lambda assets."""
    folder.mkdir(parents=True)
    (folder / "assets").symlink_to(original.parent / "assets")
    path = folder / "cdk.tf.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def _pf110(paths: list[Path]) -> set[tuple[str, str]]:
    report = check_files(paths)
    assert report.crashes == ()
    return {(Path(f.file).parent.name, f.resource) for f in report.findings if f.check_id == "PF110"}


def test_two_correct_deployments_share_no_name(synthesized: SynthResult) -> None:
    paths = [_stack(synthesized, s, kind) for s in SUFFIXES for kind in ("platform", "bootstrap")]
    report = check_files(paths)
    assert report.findings == () and report.crashes == ()


def _without_suffix(document: Document, suffix: str) -> str:
    """The transaction-log bucket named as if the code forgot the suffix; returns its address."""
    name, bucket = named(document, "aws_s3_bucket", "transaction-log/bucket")
    assert bucket["bucket"].endswith(f"-{suffix}")
    bucket["bucket"] = bucket["bucket"].removesuffix(f"-{suffix}")
    return address("aws_s3_bucket", name)


def test_a_name_both_deployments_leave_without_the_suffix_collides(synthesized: SynthResult, tmp_path: Path) -> None:
    paths, buckets = [], set()
    for suffix in SUFFIXES:
        original = _stack(synthesized, suffix)
        document = load_document(original)
        buckets.add(_without_suffix(document, suffix))
        paths.append(_beside_assets(document, original, tmp_path / suffix))
    [bucket] = buckets  # one construct path, so one address in both stacks
    assert _pf110(paths) == {(suffix, bucket) for suffix in SUFFIXES}

    report = check_files(paths)
    [mine] = [f for f in report.findings if f.check_id == "PF110" and f.file == str(paths[0])]
    # Each side names the other file and resource, and the construct path where the fix goes.
    assert f"{bucket} in {paths[1]}" in mine.message and "'payment-txlog-dev'" in mine.message
    assert mine.location == "payments-dev-pr42/transaction-log/bucket"
    # The stack alone still reports the missing suffix, as before.
    assert ("PF101", str(paths[0]), bucket) in {(f.check_id, f.file, f.resource) for f in report.findings}


def test_a_name_only_one_deployment_leaves_without_the_suffix_collides_with_nothing(
    synthesized: SynthResult, tmp_path: Path
) -> None:
    original = _stack(synthesized, "pr42")
    document = load_document(original)
    _without_suffix(document, "pr42")
    changed = _beside_assets(document, original, tmp_path / "pr42")
    assert _pf110([changed, _stack(synthesized, "alice-dev")]) == set()


def test_one_state_for_two_deployments_collides(synthesized: SynthResult, tmp_path: Path) -> None:
    paths = []
    for suffix in SUFFIXES:
        original = _stack(synthesized, suffix)
        document = load_document(original)
        REPRODUCTIONS["state-backend-shared"](document)  # one fixed state bucket; as synthesized, a key per environment
        paths.append(_beside_assets(document, original, tmp_path / suffix))
    assert _pf110(paths) == {(suffix, "terraform.backend.s3") for suffix in SUFFIXES}


def test_one_file_given_twice_is_one_deployment(synthesized: SynthResult) -> None:
    path = _stack(synthesized, "pr42")
    assert _pf110([path, path]) == set()


def _config(folder: Path, resources: dict[str, Any], *, region: object = "us-east-1") -> Path:
    folder.mkdir()
    path = folder / "main.tf.json"
    document = {"provider": {"aws": {"region": region}}, "resource": resources}
    path.write_text(json.dumps(document))
    return path


QUEUE = {"aws_sqs_queue": {"jobs": {"name": "svc-jobs"}}}
BUCKET = {"aws_s3_bucket": {"logs": {"bucket": "svc-logs"}}}


@pytest.mark.parametrize(
    ("resources", "regions", "collides"),
    [
        (QUEUE, ("us-east-1", "us-east-1"), True),
        (QUEUE, ("us-east-1", "eu-west-1"), False),  # queue names are per region
        (QUEUE, ("us-east-1", "${var.region}"), True),  # a region known only at apply may be the same one
        (BUCKET, ("us-east-1", "eu-west-1"), True),  # bucket names are global
        ({"aws_api_gateway_rest_api": {"api": {"name": "svc-api"}}}, ("us-east-1", "us-east-1"), False),
        ({"aws_sqs_queue": {"jobs": {"name": "svc-${var.suffix}"}}}, ("us-east-1", "us-east-1"), False),
        ({"aws_iam_group": {"ops": {"name": "svc-ops"}}}, ("us-east-1", "eu-west-1"), True),  # IAM: per account
        ({"aws_key_pair": {"k": {"key_name": "svc-deploy"}}}, ("us-east-1", "eu-west-1"), False),
        ({"aws_key_pair": {"k": {"key_name": "svc-deploy"}}}, ("us-east-1", "us-east-1"), True),
    ],
    ids=[
        "same-region",
        "other-region",
        "unknown-region",
        "global",
        "not-enforced",
        "computed",
        "iam-group",
        "key-pair-other-region",
        "key-pair-same-region",
    ],
)
def test_which_names_collide(
    tmp_path: Path, resources: dict[str, Any], regions: tuple[str, str], collides: bool
) -> None:
    paths = [_config(tmp_path / f"d{i}", resources, region=region) for i, region in enumerate(regions)]
    assert bool(_pf110(paths)) is collides


def test_a_name_built_from_references_compares_once_they_resolve_to_literals(tmp_path: Path) -> None:
    resources = {
        "aws_lambda_function": {"f": {"function_name": "svc-api", "role": "${aws_iam_role.r.arn}"}},
        "aws_iam_role": {"r": {"name_prefix": "svc-"}},
        "aws_cloudwatch_log_group": {"g": {"name": "/aws/lambda/${aws_lambda_function.f.function_name}"}},
    }
    paths = [_config(tmp_path / "a", resources), _config(tmp_path / "b", resources)]
    assert _pf110(paths) == {
        (folder, resource)
        for folder in ("a", "b")
        for resource in ("aws_lambda_function.f", "aws_cloudwatch_log_group.g")
    }


def test_a_deployment_may_silence_a_collision_it_means_with_a_reason(tmp_path: Path) -> None:
    shared = {"aws_s3_bucket": {"logs": {"bucket": "org-audit-logs"}}}
    silenced = {
        "aws_s3_bucket": {
            "logs": {
                "bucket": "org-audit-logs",
                "//": {"preflight_skip": {"PF110": "imports the organisation's audit bucket on purpose"}},
            }
        }
    }
    report = check_files([_config(tmp_path / "a", shared), _config(tmp_path / "b", silenced)])
    assert [(Path(f.file).parent.name, f.check_id) for f in report.findings if f.check_id == "PF110"] == [
        ("a", "PF110")
    ]
    [kept] = [f for f in report.suppressed if f.check_id == "PF110"]
    assert (
        Path(kept.file).parent.name == "b" and kept.suppression == "imports the organisation's audit bucket on purpose"
    )


def test_the_account_stack_written_by_two_deployments_synthesis_is_one_stack(
    synthesized: SynthResult, tmp_path: Path
) -> None:
    """Each deployment's synthesis writes the account's stack alike: two copies are one stack, not a collision; a copy
    that differs (another account's, say) and still shares a name is one."""
    account = synthesized.account_stack("us-east-1").path
    copies = []
    for run in ("o1", "o2"):
        folder = tmp_path / run / "payments-account-us-east-1"
        folder.mkdir(parents=True)
        copies.append(folder / "cdk.tf.json")
        copies[-1].write_text(account.read_text())
    assert _pf110([*copies, _stack(synthesized, "pr42")]) == set()
    changed = load_document(account)
    changed["output"]["state_bucket"]["description"] = "another synthesis"
    copies[1].write_text(json.dumps(changed))
    assert {resource for _, resource in _pf110(copies)} >= {
        address("aws_iam_role", n) for n in changed["resource"]["aws_iam_role"]
    }
