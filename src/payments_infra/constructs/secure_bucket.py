"""SecureBucket: the one way the platform makes a bucket. It owns its companions (versioning, default
encryption, all four public-access blocks, bucket-owner-enforced ownership, a TLS-only policy and a
lifecycle), so no bucket can forget one, and it grants access from the resource side."""

from __future__ import annotations

from collections.abc import Sequence

from cdktn_aws import iam, s3
from constructs import Construct

from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.policy import Grant, KeyUse, Statement, policy_document


def version(scope: Construct, bucket: s3.AwsBucket) -> s3.AwsBucketVersioning:
    """Keep every version: an overwrite or delete never loses a record."""
    return s3.AwsBucketVersioning(
        scope,
        "versioning",
        bucket=bucket.id,
        versioning_configuration=s3.AwsBucketVersioning.VersioningConfigurationProperty(status="Enabled"),
    )


def encrypt(
    scope: Construct, bucket: s3.AwsBucket, *, kms_key_arn: str | None
) -> s3.AwsBucketServerSideEncryptionConfiguration:
    """Default encryption: the given KMS key (with an S3 bucket key, which cuts KMS calls per object),
    or SSE-S3 when no key is given."""
    by_default = s3.AwsBucketServerSideEncryptionConfiguration.ApplyServerSideEncryptionByDefaultProperty(
        sse_algorithm="aws:kms" if kms_key_arn else "AES256", kms_master_key_id=kms_key_arn
    )
    return s3.AwsBucketServerSideEncryptionConfiguration(
        scope,
        "encryption",
        bucket=bucket.id,
        rule=[
            s3.AwsBucketServerSideEncryptionConfiguration.RuleProperty(
                apply_server_side_encryption_by_default=by_default, bucket_key_enabled=bool(kms_key_arn)
            )
        ],
    )


def block_public_access(scope: Construct, bucket: s3.AwsBucket) -> s3.AwsBucketPublicAccessBlock:
    """All four public-access blocks on."""
    return s3.AwsBucketPublicAccessBlock(
        scope,
        "public-access-block",
        bucket=bucket.id,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
    )


def own_objects(scope: Construct, bucket: s3.AwsBucket) -> s3.AwsBucketOwnershipControls:
    """ACLs disabled: the bucket owner owns every object."""
    return s3.AwsBucketOwnershipControls(
        scope,
        "ownership",
        bucket=bucket.id,
        rule=s3.AwsBucketOwnershipControls.RuleProperty(object_ownership="BucketOwnerEnforced"),
    )


def require_tls(
    scope: Construct,
    bucket: s3.AwsBucket,
    *,
    after: s3.AwsBucketPublicAccessBlock,
    grants: Sequence[Statement] = (),
) -> s3.AwsBucketPolicy:
    """The bucket's policy: deny any request not made over TLS (plus ``grants`` to a service, if any). Written
    after the public-access block: S3 answers "A conflicting conditional operation is currently in progress"
    to both at once."""
    return s3.AwsBucketPolicy(
        scope, "policy", bucket=bucket.id, policy=tls_only(scope, bucket, grants).json, depends_on=[after]
    )


def tls_only(scope: Construct, bucket: s3.AwsBucket, grants: Sequence[Statement] = ()) -> iam.DataAwsPolicyDocument:
    """A bucket policy document denying any request not made over TLS, with ``grants`` beside it."""
    return policy_document(
        scope,
        "tls-only",
        [
            Statement(
                sid="DenyInsecureTransport",
                effect="Deny",
                actions=["s3:*"],
                resources=[bucket.arn, f"{bucket.arn}/*"],
                principals=[("*", ["*"])],
                conditions=[("Bool", "aws:SecureTransport", ["false"])],
            ),
            *grants,
        ],
    )


class SecureBucket(Construct):
    """A bucket with every protection, created in the order S3 accepts them.

    ``key`` None means SSE-S3 (the state bucket: it must stay readable while the deployment's own key is
    replaced). ``grants`` are bucket-policy statements for a service that writes to the bucket from
    outside the account's IAM (CloudTrail). ``lifecycle`` is required: a versioned bucket without one keeps every
    noncurrent version forever.
    """

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        name: str,
        force_destroy: bool,
        key: EncryptionKey | None,
        lifecycle: Sequence[s3.AwsBucketLifecycleConfiguration.RuleProperty],
        object_lock: bool = False,
        grants: Sequence[Statement] = (),
    ) -> None:
        super().__init__(scope, id_)
        if not lifecycle:
            raise ValueError(f"bucket {name}: a lifecycle rule is required (noncurrent versions would pile up)")
        # Object lock can only be turned on when a bucket is created.
        self.bucket = s3.AwsBucket(
            self, "bucket", bucket=name, force_destroy=force_destroy, object_lock_enabled=object_lock
        )
        versioning = version(self, self.bucket)
        self.kms_key = key
        encrypt(self, self.bucket, kms_key_arn=key.arn if key else None)
        public_access = block_public_access(self, self.bucket)
        own_objects(self, self.bucket)
        self.policy = require_tls(self, self.bucket, after=public_access, grants=grants)
        self.lifecycle = s3.AwsBucketLifecycleConfiguration(
            self,
            "lifecycle",
            bucket=self.bucket.id,
            # Noncurrent-version rules only mean something once versioning is on.
            depends_on=[versioning],
            rule=list(lifecycle),
        )

    @property
    def name(self) -> str:
        """The bucket's name."""
        return self.bucket.bucket

    @property
    def arn(self) -> str:
        """The bucket's ARN."""
        return self.bucket.arn

    def grant_put(self, sid: str, *, prefix: str) -> Grant:
        """Write objects under ``prefix`` only (``s3:PutObject``), and the bucket key's data keys through S3: a new
        data key for each object, and decrypting it again to finish a multipart upload."""
        statement = Statement(sid=sid, actions=["s3:PutObject"], resources=[f"{self.arn}/{prefix}*"])
        return Grant((statement,), self._key_use("kms:GenerateDataKey", "kms:Decrypt"))

    def _key_use(self, *actions: str) -> KeyUse | None:
        """What an access through S3 takes of the bucket's key (None under SSE-S3: S3's own key)."""
        return self.kms_key.use_via("s3", *actions) if self.kms_key else None
