"""Naming in the synthesized stacks: every unique name carries environment and suffix, within its
service's limits (seed defects 1, 2, 3, 5 and 7 were names without the suffix)."""

from __future__ import annotations

import pytest

from payments_infra.naming import RULES, InvalidName, Naming, check
from payments_infra.synth import Deployment, SynthResult, synthesize
from tests.deployments import DEPLOYMENTS
from tests.infra.conftest import stacks_of

# Attributes that hold a name AWS requires to be unique, and the rule each is held to.
NAME_ATTRIBUTES = {
    ("aws_s3_bucket", "bucket"): "s3_bucket",
    ("aws_db_instance", "identifier"): "rds_identifier",
    ("aws_db_instance", "final_snapshot_identifier"): "rds_identifier",
    ("aws_db_subnet_group", "name"): "db_subnet_group",
    ("aws_db_parameter_group", "name"): "db_parameter_group",
    ("aws_db_proxy", "name"): "db_proxy",
    ("aws_lambda_function", "function_name"): "lambda_function",
    ("aws_iam_role", "name"): "iam_role",
    ("aws_iam_policy", "name"): "iam_policy",
    ("aws_cloudwatch_log_group", "name"): "log_group",
    ("aws_kms_alias", "name"): "kms_alias",
    ("aws_security_group", "name"): "security_group",
    ("aws_api_gateway_rest_api", "name"): "api_name",
    ("aws_cloudwatch_metric_alarm", "alarm_name"): "alarm",
    ("aws_sns_topic", "name"): "sns_topic",
    ("aws_cloudwatch_event_rule", "name"): "event_rule",
    ("aws_secretsmanager_secret", "name"): "secret",
    # Unique per REST API / per region and scope: built by naming.resource, held to its rule.
    ("aws_api_gateway_authorizer", "name"): "tag",
    ("aws_wafv2_web_acl", "name"): "tag",
    ("aws_dynamodb_table", "name"): "dynamodb_table",
    ("aws_sqs_queue", "name"): "sqs_queue",
    ("aws_cloudtrail", "name"): "cloudtrail",
}
# Any attribute with one of these names is treated as a name, so a new resource type cannot slip by.
NAME_LIKE = {"name", "bucket", "identifier", "function_name", "alarm_name", "name_prefix", "final_snapshot_identifier"}


def _names(stack_doc_resources: list[tuple[str, str, dict[str, object]]]) -> list[tuple[str, str, str]]:
    found = []
    for kind, logical, body in stack_doc_resources:
        for attribute in NAME_LIKE & body.keys():
            value = body[attribute]
            if isinstance(value, str) and "${" not in value:
                found.append((f"{kind}.{logical}.{attribute}", value, NAME_ATTRIBUTES.get((kind, attribute), "")))
        tags = body.get("tags")
        tag = tags.get("Name") if isinstance(tags, dict) else None
        if tag:
            found.append((f"{kind}.{logical}.tags.Name", tag, "tag"))
    return found


def test_every_name_in_every_stack_carries_environment_and_suffix(synthesized: SynthResult) -> None:
    checked = 0
    for deployment, bootstrap, platform in stacks_of(synthesized):
        for where, name, rule in _names(bootstrap.all_resources() + platform.all_resources()):
            # Ends with it: "dev" and "pr4" merely somewhere in a name would let dev-pr4 and dev-pr42 collide.
            # Secrets are path style (payment/<env>/<suffix>/<purpose>): there the "/" delimits the suffix.
            if rule == "secret":
                assert name.startswith(f"payment/{deployment.environment}/{deployment.suffix}/"), f"{where} = {name!r}"
            else:
                assert name.endswith(f"-{deployment.environment}-{deployment.suffix}"), f"{where} = {name!r}"
            assert rule, f"{where}: no naming rule is known for this attribute; add it to NAME_ATTRIBUTES"
            check(rule, name)  # length and characters
            checked += 1
    assert checked >= 5 * 20


def test_the_longest_suffix_fits_every_limit(synthesized: SynthResult) -> None:
    longest = max(
        _names(stacks_of(synthesized)[-1][2].all_resources()), key=lambda n: len(n[1]) / RULES[n[2]].max_length
    )
    where, name, rule = longest
    assert len(name) <= RULES[rule].max_length, where


def test_two_deployments_share_no_name(synthesized: SynthResult) -> None:
    seen: dict[str, Deployment] = {}
    for deployment, bootstrap, platform in stacks_of(synthesized):
        backend = platform.doc["terraform"]["backend"]["s3"]
        for where, name, _ in [
            *_names(bootstrap.all_resources() + platform.all_resources()),
            ("backend", backend["bucket"], ""),
        ]:
            if "tags.Name" in where:
                continue
            assert name not in seen or seen[name] == deployment, f"{name} used by {seen.get(name)} and {deployment}"
            seen[name] = deployment


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


def test_a_suffix_that_breaks_a_limit_is_refused_before_synthesis(tmp_path: object) -> None:
    from pathlib import Path

    out = Path(str(tmp_path)) / "out"
    with pytest.raises(InvalidName, match="deployment suffix"):
        synthesize([Deployment("dev", "x" * 21)], out=out, package=Path("/nonexistent.zip"))
    with pytest.raises(InvalidName, match="deployment suffix"):
        synthesize([Deployment("dev", "Has_Upper")], out=out, package=Path("/nonexistent.zip"))
    assert not out.exists()
