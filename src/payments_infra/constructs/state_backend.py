"""State backend: where Terraform keeps each deployment's state, and the bootstrap that creates it.

The state bucket carries the environment and suffix (seed defect 1 was a shared
"terraform-state-payment-processing" bucket and "terraform-state-lock" table: parallel deployments
overwrote each other's state). Locking is S3-native (``use_lockfile``): a ``<key>.tflock`` object in
the same bucket, so the lock is as unique as the bucket. DynamoDB locking is deprecated by Terraform
1.11 ('The parameter "dynamodb_table" is deprecated. Use parameter "use_lockfile" instead.').
"""

from __future__ import annotations

from cdktn import S3Backend, TerraformStack
from cdktn_provider_aws.s3_bucket import S3Bucket
from cdktn_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from constructs import Construct

from payments_infra.constructs.secure_bucket import block_public_access, encrypt, own_objects, require_tls, version
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


class StateStore(Construct):
    """The state bucket of one deployment: versioned, encrypted, private, TLS-only."""

    def __init__(self, scope: Construct, id_: str, *, config: EnvironmentConfig, naming: Naming) -> None:
        super().__init__(scope, id_)
        self.bucket = S3Bucket(self, "bucket", bucket=naming.state_bucket(), force_destroy=config.bucket_force_destroy)
        versioning = version(self, self.bucket)
        # SSE-S3: the state must stay readable even if the deployment's own KMS key is being replaced.
        encrypt(self, self.bucket, kms_key_arn=None)
        public_access = block_public_access(self, self.bucket)
        own_objects(self, self.bucket)
        require_tls(self, self.bucket, after=public_access)
        S3BucketLifecycleConfiguration(
            self,
            "lifecycle",
            bucket=self.bucket.id,
            # Noncurrent-version rules only mean something once versioning is on.
            depends_on=[versioning],
            rule=[
                S3BucketLifecycleConfigurationRule(
                    id="expire-old-state-versions",
                    status="Enabled",
                    filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                    noncurrent_version_expiration=[
                        S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                            noncurrent_days=STATE_VERSIONS_KEPT_DAYS
                        )
                    ],
                    abort_incomplete_multipart_upload=[
                        S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(days_after_initiation=7)
                    ],
                )
            ],
        )
