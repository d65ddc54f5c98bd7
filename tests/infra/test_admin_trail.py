"""CloudTrail records every invocation of the admin function in staging and prod (issue 24): AWS's own record of
who ran each operator action, beside the audit log's assertion of it."""

from __future__ import annotations

import re
from typing import Any

from payments_infra.constructs.admin_trail import CLOUDTRAIL, LAMBDA_DATA_EVENTS, MIN_RETENTION_DAYS
from tests.infra.conftest import config_of
from tests.infra.tfjson import Stack, refs


def trail_of(stack: Stack) -> dict[str, Any] | None:
    trails = stack.resources("aws_cloudtrail")
    assert len(trails) <= 1
    return next(iter(trails.values()), None)


def test_staging_and_prod_record_each_invocation_of_the_admin_function_and_nothing_else(env_stack: Stack) -> None:
    config = config_of(env_stack)
    trail = trail_of(env_stack)
    if not config.admin_invoke_trail:
        assert config.name == "dev" and trail is None
        return
    assert config.name in ("staging", "prod") and trail is not None
    admin, _ = env_stack.named("aws_lambda_function", "admin/function")
    (selector,) = trail["event_selector"]
    assert selector["include_management_events"] is False and selector["read_write_type"] == "All"
    (data,) = selector["data_resource"]
    assert data == {"type": LAMBDA_DATA_EVENTS, "values": [f"${{aws_lambda_function.{admin}.arn}}"]}
    assert trail["enable_log_file_validation"] is True
    assert trail["is_multi_region_trail"] is False and trail["include_global_service_events"] is False
    assert trail["name"].endswith(f"-{config.name}-pr42") and "admin-trail" in trail["name"]


def test_the_trail_bucket_lets_cloudtrail_write_for_this_trail_only(env_stack: Stack) -> None:
    config = config_of(env_stack)
    trail = trail_of(env_stack)
    if trail is None:
        return
    bucket_name, bucket = env_stack.named("aws_s3_bucket", "admin-trail/bucket/bucket")
    assert trail["s3_bucket_name"] == f"${{aws_s3_bucket.{bucket_name}.bucket}}"
    policy_name, policy = env_stack.named("aws_s3_bucket_policy", "admin-trail/bucket/policy")
    assert f"aws_s3_bucket_policy.{policy_name}" in trail["depends_on"], "CloudTrail checks the policy on create"
    deny, *grants = env_stack.policy_statements(policy["policy"])
    assert deny["effect"] == "Deny"
    by_sid = {g["sid"]: g for g in grants}
    assert set(by_sid) == {"CloudTrailReadsTheAcl", "CloudTrailWritesThisTrail"}
    for grant in grants:
        assert grant["principals"] == [{"type": "Service", "identifiers": [CLOUDTRAIL]}]
        (source,) = [c for c in grant["condition"] if c["variable"] == "aws:SourceArn"]
        assert source["test"] == "StringEquals" and source["values"][0].endswith(f":trail/{trail['name']}")
    assert by_sid["CloudTrailReadsTheAcl"]["actions"] == ["s3:GetBucketAcl"]
    assert by_sid["CloudTrailWritesThisTrail"]["actions"] == ["s3:PutObject"]
    (resource,) = by_sid["CloudTrailWritesThisTrail"]["resources"]
    # Under this account's prefix alone (the account id is the caller identity's, filled in by Terraform).
    assert re.search(r"/AWSLogs/\$\{data\.aws_caller_identity\.[A-Za-z0-9_]+\.account_id\}/\*$", resource)
    # The deployment's key, for the bucket and for the log files CloudTrail writes.
    key, _ = env_stack.only("aws_kms_key")
    assert trail["kms_key_id"] == f"${{aws_kms_key.{key}.arn}}"
    (encryption,) = [
        e
        for e in env_stack.resources("aws_s3_bucket_server_side_encryption_configuration").values()
        if refs(e["bucket"]) == {f"aws_s3_bucket.{bucket_name}"}
    ]
    by_default = encryption["rule"][0]["apply_server_side_encryption_by_default"]
    assert by_default == {"sse_algorithm": "aws:kms", "kms_master_key_id": f"${{aws_kms_key.{key}.arn}}"}
    (lifecycle,) = [
        rule
        for c in env_stack.resources("aws_s3_bucket_lifecycle_configuration").values()
        if refs(c["bucket"]) == {f"aws_s3_bucket.{bucket_name}"}
        for rule in c["rule"]
    ]
    assert lifecycle["expiration"][0]["days"] >= max(MIN_RETENTION_DAYS, config.log_retention_days)
    assert bucket["force_destroy"] is config.bucket_force_destroy


def test_the_key_lets_cloudtrail_encrypt_for_this_deployments_trails_only(env_stack: Stack) -> None:
    config = config_of(env_stack)
    _, key = env_stack.only("aws_kms_key")
    statements = {s["sid"]: s for s in env_stack.policy_statements(key["policy"])}
    cloudtrail = {sid: s for sid, s in statements.items() if sid.startswith("CloudTrail")}
    if not config.admin_invoke_trail:
        assert cloudtrail == {}
        return
    assert set(cloudtrail) == {"CloudTrailEncryptsLogsOfThisDeployment", "CloudTrailDescribesTheKey"}
    encrypts = cloudtrail["CloudTrailEncryptsLogsOfThisDeployment"]
    assert encrypts["actions"] == ["kms:GenerateDataKey*"]
    for statement in cloudtrail.values():
        assert statement["principals"] == [{"type": "Service", "identifiers": [CLOUDTRAIL]}]
        for condition in statement["condition"]:
            expected = "StringLike" if condition["variable"].startswith("kms:EncryptionContext") else "ArnLike"
            assert condition["test"] == expected, condition
            (value,) = condition["values"]
            assert value.endswith(f":trail/*-{config.name}-pr42")
