"""Transaction log: the S3 bucket every payment event is written to. Versioned, encrypted with the
deployment's key, never public, reachable only over TLS, tiered to cheaper storage with age, and
write-once (object lock) where the environment asks for it."""

from __future__ import annotations

from cdktn_aws import s3
from constructs import Construct

from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.policy import Grant, Statement
from payments_infra.constructs.secure_bucket import SecureBucket
from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming

#: Where the processor writes events (payment_processor.txlog); the IAM grant covers exactly this prefix.
EVENT_PREFIX = "transactions/"
#: Where the admin function copies each audit-log entry (payment_processor.audit): locked like the events in prod.
AUDIT_PREFIX = "audit/"


class TransactionLogBucket(SecureBucket):
    """The transaction-log bucket: a SecureBucket with the deployment's key, tiering, and object lock
    where the environment asks for it."""

    def __init__(
        self, scope: Construct, id_: str, *, config: EnvironmentConfig, naming: Naming, key: EncryptionKey
    ) -> None:
        super().__init__(
            scope,
            id_,
            name=naming.bucket("txlog"),
            force_destroy=config.bucket_force_destroy,
            key=key,
            object_lock=config.transaction_log_lock is not None,
            lifecycle=[
                s3.AwsBucketLifecycleConfiguration.RuleProperty(
                    id="archive-transaction-events",
                    status="Enabled",
                    filter=[s3.AwsBucketLifecycleConfiguration.FilterProperty(prefix=EVENT_PREFIX)],
                    transition=[
                        s3.AwsBucketLifecycleConfiguration.TransitionProperty(
                            days=config.transaction_log_archive_after_days, storage_class="GLACIER_IR"
                        )
                    ],
                    noncurrent_version_transition=[
                        s3.AwsBucketLifecycleConfiguration.NoncurrentVersionTransitionProperty(
                            noncurrent_days=30, storage_class="GLACIER_IR"
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
        lock = config.transaction_log_lock
        if lock:
            # COMPLIANCE: nobody, root included, can delete or overwrite an event before it expires.
            s3.AwsBucketObjectLockConfiguration(
                self,
                "object-lock",
                bucket=self.bucket.id,
                rule=s3.AwsBucketObjectLockConfiguration.RuleProperty(
                    default_retention=s3.AwsBucketObjectLockConfiguration.DefaultRetentionProperty(
                        mode="COMPLIANCE", days=lock.retention_days
                    )
                ),
            )

    def grant_put_events(self, sid: str) -> Grant:
        """Write events: ``s3:PutObject`` under the event prefix only, with the key's data keys."""
        return self.grant_put(sid, prefix=EVENT_PREFIX)

    def grant_list_events(self, sid: str) -> Grant:
        """List the event objects (``s3:ListBucket`` with ``s3:prefix`` under the event prefix): which of a
        payment's events are in the bucket, for the console's timeline. Not their content, so nothing of the key."""
        statement = Statement(
            sid=sid,
            actions=["s3:ListBucket"],
            resources=[self.arn],
            conditions=[("StringLike", "s3:prefix", [f"{EVENT_PREFIX}*"])],
        )
        return Grant((statement,), self._key_use())

    def grant_put_audit(self, sid: str) -> Grant:
        """Write audit-log entries: ``s3:PutObject`` under the audit prefix only, with the key's data keys."""
        return self.grant_put(sid, prefix=AUDIT_PREFIX)
