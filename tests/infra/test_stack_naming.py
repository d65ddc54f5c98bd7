"""Naming in the synthesized stacks: every unique name carries environment and suffix, within its
service's limits (names without the suffix made two deployments collide), and a stack giving any other
name is refused."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from payments_infra.lambda_build import LambdaPackage
from payments_infra.naming import RULES, InvalidName, Naming, SynthesizedName, synthesized_names
from payments_infra.synth import Deployment, SynthResult, synthesize
from tests.deployments import DEPLOYMENTS
from tests.infra.conftest import stacks_of
from tests.infra.tfjson import Stack


def _names(bootstrap: Stack, platform: Stack) -> list[SynthesizedName]:
    return synthesized_names(bootstrap.doc) + synthesized_names(platform.doc)


def test_every_name_in_every_stack_carries_environment_and_suffix(synthesized: SynthResult) -> None:
    """What synthesize checked before it returned (Naming.check_stack), checked again here on the files."""
    for deployment, bootstrap, platform in stacks_of(synthesized):
        naming = Naming(deployment.environment, deployment.suffix)
        assert naming.check_stack(bootstrap.doc) == 1  # the state bucket
        assert naming.check_stack(platform.doc) >= 50
        for name in _names(bootstrap, platform):
            assert deployment.environment in name.value and deployment.suffix in name.value, name


def test_the_longest_suffix_fits_every_limit(synthesized: SynthResult) -> None:
    _, bootstrap, platform = stacks_of(synthesized)[-1]
    longest = max(_names(bootstrap, platform), key=lambda n: len(n.value) / RULES[n.rule].max_length)
    assert len(longest.value) <= RULES[longest.rule].max_length, longest


def _stack(resources: Mapping[str, Mapping[str, Mapping[str, object]]]) -> dict[str, object]:
    return {"resource": resources, "terraform": {"backend": {"s3": {"bucket": "payment-tfstate-dev-pr42"}}}}


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        # Made without the helper: two deployments would both create it ("BucketAlreadyOwnedByYou").
        ({"aws_s3_bucket": {"b": {"bucket": "payment-transactions"}}}, "does not end with this deployment's -dev-pr42"),
        # Another deployment's name.
        ({"aws_iam_role": {"r": {"name": "payment-processor-dev-pr4"}}}, "does not end with"),
        ({"aws_secretsmanager_secret": {"s": {"name": "payment/dev/pr4/db-app"}}}, "does not end with"),
        # Over the service's limit: the limit is in the message.
        ({"aws_lambda_function": {"f": {"function_name": f"payment-{'x' * 60}-dev-pr42"}}}, "allows 64"),
        ({"aws_s3_bucket": {"b": {"bucket": "Payment-Upper-dev-pr42"}}}, "not allowed"),
        # A name no rule covers (a new resource type): refused until NAME_ATTRIBUTES says what holds it.
        ({"aws_dynamodb_table": {"t": {"name": "payment-locks-dev-pr42"}}}, "no naming rule covers"),
        ({"aws_vpc": {"v": {"tags": {"Name": "shared-vpc"}}}}, "aws_vpc.v.tags.Name"),
    ],
)
def test_a_stack_giving_a_name_that_breaks_a_rule_is_refused(
    resources: dict[str, dict[str, dict[str, object]]], message: str
) -> None:
    with pytest.raises(InvalidName, match=message):
        Naming("dev", "pr42").check_stack(_stack(resources))


def test_references_to_names_are_not_names_and_every_problem_is_listed() -> None:
    naming = Naming("dev", "pr42")
    fine = {"aws_s3_bucket_versioning": {"v": {"bucket": "${aws_s3_bucket.b.id}"}}}
    assert naming.check_stack(_stack(fine)) == 1  # the backend's bucket
    bad = {"aws_sns_topic": {"t": {"name": "alarms"}}, "aws_sqs_queue": {"q": {"name": "q" * 81}}}
    with pytest.raises(InvalidName, match=r"aws_sns_topic\.t\.name.*; aws_sqs_queue\.q\.name.*allows 80"):
        naming.check_stack(_stack(bad))
    with pytest.raises(InvalidName, match=r"terraform\.backend\.s3\.bucket"):
        naming.check_stack({"terraform": {"backend": {"s3": {"bucket": "terraform-state-payment-processing"}}}})


def test_two_deployments_share_no_name(synthesized: SynthResult) -> None:
    seen: dict[str, Deployment] = {}
    for deployment, bootstrap, platform in stacks_of(synthesized):
        for name in _names(bootstrap, platform):
            if name.where.endswith("tags.Name"):
                continue
            value = name.value
            assert value not in seen or seen[value] == deployment, f"{value} used by {seen.get(value)} and {deployment}"
            seen[value] = deployment


@pytest.mark.parametrize("deployment", DEPLOYMENTS, ids=str)
def test_state_backend_is_the_bootstrapped_bucket_with_a_key_per_environment(
    synthesized: SynthResult, deployment: Deployment
) -> None:
    _, bootstrap, platform = next(s for s in stacks_of(synthesized) if s[0] == deployment)
    backend = platform.doc["terraform"]["backend"]["s3"]
    naming = Naming(deployment.environment, deployment.suffix)
    assert backend["bucket"] == naming.state_bucket() == bootstrap.only("aws_s3_bucket")[1]["bucket"]
    assert backend["key"] == f"payments/{deployment.environment}/terraform.tfstate"
    assert backend["encrypt"] is True and backend["use_lockfile"] is True
    assert "local" in bootstrap.doc["terraform"]["backend"]


def test_a_suffix_that_breaks_a_limit_is_refused_before_synthesis(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(InvalidName, match="deployment suffix"):
        synthesize([Deployment("dev", "x" * 21)], out=out, package=Path("/nonexistent.zip"))
    with pytest.raises(InvalidName, match="deployment suffix"):
        synthesize([Deployment("dev", "Has_Upper")], out=out, package=Path("/nonexistent.zip"))
    assert not out.exists()


def test_synthesis_refuses_and_removes_a_stack_giving_a_name_without_the_suffix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lambda_zip: LambdaPackage
) -> None:
    """Bucket names made as they once were, without the deployment: refused before terraform could run on them."""
    monkeypatch.setattr(Naming, "bucket", lambda self, purpose: f"payment-{purpose}")
    out = tmp_path / "out"
    with pytest.raises(InvalidName, match=r"stack payments-bootstrap-dev-pr42: aws_s3_bucket\..*'payment-tfstate'"):
        synthesize([Deployment("dev", "pr42")], out=out, package=lambda_zip)
    assert not (out / "stacks" / "payments-bootstrap-dev-pr42" / "cdk.tf.json").exists()
