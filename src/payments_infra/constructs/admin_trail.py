"""Admin trail: CloudTrail records every invocation of the admin function, in staging and prod.

The audit log (payment_processor.audit) names the operator the admin command *says* it runs as (the caller's
ARN from STS); this trail is AWS's own record of who invoked the function, which no command can assert: data
events of type ``AWS::Lambda::Function`` for the admin function's ARN alone (management events and every other
function's invokes stay out of it: they are what the processor serves all day, and CloudTrail bills data events
per event). Log-file validation is on, so a deleted or edited log file shows in the digest chain.

The trail writes to a bucket of its own (a SecureBucket: versioned, private, TLS only), whose policy lets
CloudTrail, for this trail only (``aws:SourceArn``), read the bucket's ACL and put objects under its account's
prefix. Log files are encrypted with the deployment's key, which lets CloudTrail make data keys for this
deployment's trails alone (constructs.encryption).
"""

from __future__ import annotations

from cdktn_aws import cloudtrail, s3
from constructs import Construct

from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.policy import Statement
from payments_infra.constructs.secure_bucket import SecureBucket
from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming

#: The data-event type of a Lambda invoke, as CloudTrail's event selectors name it.
LAMBDA_DATA_EVENTS = "AWS::Lambda::Function"
CLOUDTRAIL = "cloudtrail.amazonaws.com"
#: Kept at least a year (PCI DSS 10.5.1: a year of audit history, three months of it at hand).
MIN_RETENTION_DAYS = 365


class AdminInvokeTrail(Construct):
    """A trail of the admin function's invocations, and the bucket it writes to."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        naming: Naming,
        key: EncryptionKey,
        admin_function_arn: str,
    ) -> None:
        super().__init__(scope, id_)
        name = naming.trail("admin-trail")
        # Built, not referenced: the bucket policy must exist before CloudTrail accepts the trail (it checks the
        # policy on CreateTrail), so the policy cannot refer to the trail's own attribute.
        trail_arn = f"arn:{key.partition}:cloudtrail:{config.region}:{key.account_id}:trail/{name}"
        this_trail = ("StringEquals", "aws:SourceArn", [trail_arn])
        self.bucket = SecureBucket(
            self,
            "bucket",
            name=naming.bucket("admin-trail"),
            force_destroy=config.bucket_force_destroy,
            key=key,
            lifecycle=[
                s3.AwsBucketLifecycleConfiguration.RuleProperty(
                    id="keep-a-year-then-expire",
                    status="Enabled",
                    filter=[s3.AwsBucketLifecycleConfiguration.FilterProperty(prefix="")],
                    expiration=[
                        s3.AwsBucketLifecycleConfiguration.ExpirationProperty(
                            days=max(MIN_RETENTION_DAYS, config.log_retention_days)
                        )
                    ],
                    noncurrent_version_expiration=[
                        s3.AwsBucketLifecycleConfiguration.NoncurrentVersionExpirationProperty(noncurrent_days=30)
                    ],
                )
            ],
            grants=[
                Statement(
                    sid="CloudTrailReadsTheAcl",
                    actions=["s3:GetBucketAcl"],
                    resources=[f"arn:{key.partition}:s3:::{naming.bucket('admin-trail')}"],
                    principals=[("Service", [CLOUDTRAIL])],
                    conditions=[this_trail],
                ),
                Statement(
                    sid="CloudTrailWritesThisTrail",
                    actions=["s3:PutObject"],
                    resources=[f"arn:{key.partition}:s3:::{naming.bucket('admin-trail')}/AWSLogs/{key.account_id}/*"],
                    principals=[("Service", [CLOUDTRAIL])],
                    conditions=[this_trail, ("StringEquals", "s3:x-amz-acl", ["bucket-owner-full-control"])],
                ),
            ],
        )
        self.trail = cloudtrail.AwsCloudtrail(
            self,
            "trail",
            name=name,
            s3_bucket_name=self.bucket.name,
            kms_key_id=key.arn,
            is_multi_region_trail=False,
            include_global_service_events=False,
            enable_log_file_validation=True,
            event_selector=[
                cloudtrail.AwsCloudtrail.EventSelectorProperty(
                    read_write_type="All",
                    include_management_events=False,
                    data_resource=[
                        cloudtrail.AwsCloudtrail.DataResourceProperty(
                            type=LAMBDA_DATA_EVENTS, values=[admin_function_arn]
                        )
                    ],
                )
            ],
            depends_on=[self.bucket.policy],
        )
