"""IAM: the role the processor's functions run as, and a least-privilege policy holding exactly the
actions the processor's code uses, on exactly the resources it uses them on.

- ``txlog.S3Sink.put`` (put_object): ``s3:PutObject`` on ``<transaction-log bucket>/transactions/*``;
- ``credentials`` (get_secret_value): ``secretsmanager:GetSecretValue`` on the RDS-managed secret;
- SSE-KMS writes and the secret's decryption: ``kms:GenerateDataKey`` and ``kms:Decrypt`` on the
  deployment's key, and only when S3 or Secrets Manager make the call (``kms:ViaService``);
- the Lambda runtime's logging: ``logs:CreateLogStream`` and ``logs:PutLogEvents`` on the functions'
  own log groups;
- Lambda in a VPC: the ENI actions of AWS's AWSLambdaVPCAccessExecutionRole on ``*``, because Lambda
  creates the network interfaces itself and no ARN for them exists beforehand.

Seed defect 6 was a function writing to a bucket it had no grant on ("AccessDenied ... is not
authorized to perform: s3:PutObject"): the grants are built from the resources the function is
configured with, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from cdktn_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktn_provider_aws.iam_policy import IamPolicy
from cdktn_provider_aws.iam_role import IamRole
from cdktn_provider_aws.iam_role_policy_attachment import IamRolePolicyAttachment
from constructs import Construct

from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.policy import Statement, policy_document
from payments_infra.constructs.transaction_log import EVENT_PREFIX, TransactionLogBucket
from payments_infra.naming import Naming

#: What Lambda needs to attach a function to private subnets (the actions of AWS's
#: AWSLambdaVPCAccessExecutionRole). Without them creation fails: "InvalidParameterValueException: The
#: provided execution role does not have permissions to call CreateNetworkInterface on EC2".
VPC_ACTIONS = (
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)


class FunctionRole(Construct):
    """The execution role of the processor's functions and its one policy."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        key: EncryptionKey,
        transaction_log: TransactionLogBucket,
        database_secret_arn: str,
        log_groups: Sequence[CloudwatchLogGroup],
    ) -> None:
        super().__init__(scope, id_)
        trust = policy_document(
            self,
            "trust",
            [
                Statement(
                    sid="LambdaAssumesRole",
                    actions=["sts:AssumeRole"],
                    resources=[],
                    principals=[("Service", ["lambda.amazonaws.com"])],
                    conditions=[("StringEquals", "aws:SourceAccount", [key.account_id])],
                )
            ],
        )
        self.role = IamRole(
            self,
            "role",
            name=naming.role("processor"),
            description=f"Runs the payment processor ({naming.tag})",
            assume_role_policy=trust.json,
        )
        region = key.region
        grants = policy_document(
            self,
            "grants",
            [
                Statement(
                    sid="WriteTransactionEvents",
                    actions=["s3:PutObject"],
                    resources=[f"{transaction_log.arn}/{EVENT_PREFIX}*"],
                ),
                Statement(
                    sid="ReadDatabaseCredentials",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[database_secret_arn],
                ),
                Statement(
                    sid="UseDataKeyThroughS3AndSecretsManager",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[key.arn],
                    conditions=[
                        (
                            "StringEquals",
                            "kms:ViaService",
                            [f"s3.{region}.amazonaws.com", f"secretsmanager.{region}.amazonaws.com"],
                        )
                    ],
                ),
                Statement(
                    sid="WriteOwnLogs",
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[f"{group.arn}:*" for group in log_groups],
                ),
                Statement(sid="AttachToPrivateSubnets", actions=list(VPC_ACTIONS), resources=["*"]),
            ],
        )
        self.policy = IamPolicy(
            self,
            "policy",
            name=naming.policy("processor"),
            description=f"Least privilege for the payment processor ({naming.tag})",
            policy=grants.json,
        )
        self.attachment = IamRolePolicyAttachment(self, "attachment", role=self.role.name, policy_arn=self.policy.arn)

    @property
    def arn(self) -> str:
        """The role's ARN."""
        return self.role.arn
