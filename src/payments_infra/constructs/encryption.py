"""Encryption: the deployment's customer-managed KMS key, used for the database, its secret, the
transaction-log bucket, the log groups and the alarm topic."""

from __future__ import annotations

from collections.abc import Sequence

from cdktn_aws import kms, meta_data_sources, sts
from constructs import Construct

from payments_infra.constructs.policy import Grant, KeyUse, Statement, policy_document
from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming


class EncryptionKey(Construct):
    """A rotating KMS key with an alias, whose policy lets the account administer it and CloudWatch
    Logs use it for this deployment's log groups only."""

    def __init__(self, scope: Construct, id_: str, *, config: EnvironmentConfig, naming: Naming) -> None:
        super().__init__(scope, id_)
        identity = sts.DataAwsCallerIdentity(self, "caller")
        partition = meta_data_sources.DataAwsPartition(self, "partition")
        self.account_id = identity.account_id
        self.partition = partition.partition
        self.region = config.region
        # Every name of the deployment ends with "-<env>-<suffix>" (naming.tag); "*dev-pr4*" would also
        # match dev-pr42.
        log_groups = f"arn:{self.partition}:logs:{config.region}:{self.account_id}:log-group:*-{naming.tag}"
        alarms = f"arn:{self.partition}:cloudwatch:{config.region}:{self.account_id}:alarm:*-{naming.tag}"
        statements = [
            # Without the account statement the key becomes unmanageable ("MalformedPolicyDocument
            # Exception: The new key policy will not allow you to update the key policy in the future").
            Statement(
                sid="AccountAdministers",
                actions=["kms:*"],
                resources=["*"],  # in a key policy "*" means this key
                principals=[("AWS", [f"arn:{self.partition}:iam::{self.account_id}:root"])],
            ),
            # Encrypted log groups fail without it ("AccessDeniedException: The specified KMS key does
            # not exist or is not allowed to be used with LogGroup").
            Statement(
                sid="CloudWatchLogsUsesKeyForThisDeployment",
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                principals=[("Service", [f"logs.{config.region}.amazonaws.com"])],
                conditions=[("ArnLike", "kms:EncryptionContext:aws:logs:arn", [log_groups])],
            ),
        ]
        if config.alarms:
            # The alarm topic is encrypted with this key: without this statement CloudWatch cannot publish
            # to it and every alarm's notification is silently dropped (the alarm state still changes).
            statements.append(
                Statement(
                    sid="CloudWatchAlarmsPublishForThisDeployment",
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],
                    principals=[("Service", ["cloudwatch.amazonaws.com"])],
                    conditions=[("ArnLike", "aws:SourceArn", [alarms])],
                )
            )
        if config.admin_invoke_trail:
            # The admin trail's log files are encrypted with this key (constructs.admin_trail): CloudTrail makes
            # their data keys, for this deployment's trails only, and checks the key when the trail is created.
            trails = f"arn:{self.partition}:cloudtrail:{config.region}:{self.account_id}:trail/*-{naming.tag}"
            statements += [
                Statement(
                    sid="CloudTrailEncryptsLogsOfThisDeployment",
                    actions=["kms:GenerateDataKey*"],
                    resources=["*"],
                    principals=[("Service", ["cloudtrail.amazonaws.com"])],
                    conditions=[
                        ("ArnLike", "aws:SourceArn", [trails]),
                        # As AWS's own key policy for CloudTrail writes it (a string key that holds an ARN).
                        ("StringLike", "kms:EncryptionContext:aws:cloudtrail:arn", [trails]),
                    ],
                ),
                Statement(
                    sid="CloudTrailDescribesTheKey",
                    actions=["kms:DescribeKey"],
                    resources=["*"],
                    principals=[("Service", ["cloudtrail.amazonaws.com"])],
                    conditions=[("ArnLike", "aws:SourceArn", [trails])],
                ),
            ]
        document = policy_document(self, "key-policy", statements)
        self.key = kms.AwsKey(
            self,
            "key",
            description=f"Payment platform data key ({naming.tag})",
            enable_key_rotation=True,
            deletion_window_in_days=config.kms_deletion_window_days,
            policy=document.json,
        )
        self.alias = kms.AwsAlias(self, "alias", name=naming.kms_alias("key"), target_key_id=self.key.key_id)
        #: The key's ARN: one token, read once, so grants can tell it is the same key (each read is a new token).
        self.arn: str = self.key.arn

    def use_via(self, service: str, *actions: str) -> KeyUse:
        """What a resource encrypted with this key asks of it for one access: ``actions`` when ``service`` (``s3``,
        ``secretsmanager``) calls KMS on the caller's behalf. The resource's grant carries it (policy.Grant)."""
        return KeyUse(self.arn, f"{service}.{self.region}.amazonaws.com", tuple(actions))

    def grant_use_for(self, sid: str, *, purpose: str, actions: Sequence[str]) -> Grant:
        """Use the key directly (``kms:Encrypt``, ``kms:Decrypt``), only with the encryption context
        ``purpose`` (``kms:EncryptionContext:purpose``): the role can seal and open what it sealed for that
        purpose, and nothing sealed for another (the database's, the bucket's or the secrets' data keys)."""
        statement = Statement(
            sid=sid,
            actions=list(actions),
            resources=[self.arn],
            conditions=[("StringEquals", "kms:EncryptionContext:purpose", [purpose])],
        )
        return Grant((statement,))
