"""Log groups: created by us (not on first write by the service) so they have retention and the
deployment's KMS key from the start."""

from __future__ import annotations

from cdktn_aws import cloudwatch_logs
from constructs import Construct

from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming


def log_group(
    scope: Construct,
    id_: str,
    *,
    config: EnvironmentConfig,
    naming: Naming,
    key: EncryptionKey,
    service_path: str,
    purpose: str,
) -> cloudwatch_logs.AwsGroup:
    """A KMS-encrypted log group under an AWS service's prefix (``/aws/lambda``: the group the service writes
    to is named after the function), keeping events for the environment's retention."""
    return cloudwatch_logs.AwsGroup(
        scope,
        id_,
        name=naming.log_group(service_path, purpose),
        retention_in_days=config.log_retention_days,
        kms_key_id=key.arn,
    )
