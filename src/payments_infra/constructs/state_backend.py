"""State backend: where Terraform keeps each deployment's state, and the bootstrap that creates it.

The state bucket carries the environment and suffix: with one state bucket and lock table for every
deployment ("terraform-state-payment-processing", "terraform-state-lock"), parallel deployments
overwrote each other's state. Locking is S3-native (``use_lockfile``): a ``<key>.tflock`` object in
the same bucket, so the lock is as unique as the bucket. DynamoDB locking is deprecated by Terraform
1.11 ('The parameter "dynamodb_table" is deprecated. Use parameter "use_lockfile" instead.').
"""

from __future__ import annotations

from cdktn import S3Backend, TerraformStack
from cdktn_aws import s3
from constructs import Construct

from payments_infra.constructs.secure_bucket import SecureBucket
from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming

#: Old state versions kept for recovery after a bad apply.
STATE_VERSIONS_KEPT_DAYS = 90


def use_state_backend(stack: TerraformStack, *, config: EnvironmentConfig, naming: Naming) -> S3Backend:
    """Point ``stack`` at its deployment's state: the bootstrapped bucket, one key per environment."""
    return S3Backend(
        stack,
        bucket=naming.state_bucket(),
        key=naming.state_key(),
        region=config.region,
        encrypt=True,
        use_lockfile=True,
    )


class StateStore(SecureBucket):
    """A state bucket (a deployment's, or the account stack's): a SecureBucket with SSE-S3 and old state versions
    expiring."""

    def __init__(self, scope: Construct, id_: str, *, name: str, force_destroy: bool) -> None:
        super().__init__(
            scope,
            id_,
            name=name,
            force_destroy=force_destroy,
            # SSE-S3: the state must stay readable even if the deployment's own KMS key is being replaced.
            key=None,
            lifecycle=[
                s3.AwsBucketLifecycleConfiguration.RuleProperty(
                    id="expire-old-state-versions",
                    status="Enabled",
                    filter=[s3.AwsBucketLifecycleConfiguration.FilterProperty(prefix="")],
                    noncurrent_version_expiration=[
                        s3.AwsBucketLifecycleConfiguration.NoncurrentVersionExpirationProperty(
                            noncurrent_days=STATE_VERSIONS_KEPT_DAYS
                        )
                    ],
                    abort_incomplete_multipart_upload=[
                        s3.AwsBucketLifecycleConfiguration.AbortIncompleteMultipartUploadProperty(
                            days_after_initiation=7
                        )
                    ],
                )
            ],
        )
