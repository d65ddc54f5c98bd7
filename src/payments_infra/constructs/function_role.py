"""IAM: the role a function runs as. It holds the grants the function's resources give it
(``bucket.grant_put``, ``secret.grant_read``, ``queue.grant_send``, each with what it takes of the deployment's
key, as AWS CDK's constructs do), plus what every function of the platform needs: writing its own log groups
and attaching to the VPC.

Each function (processor and delivery, authorizer, admin) gets its own role with only what its code
uses, so the role never has to know every resource of the stack. A function configured with a bucket
its role holds no grant on deploys fine and fails on its first write ("AccessDenied ... is not
authorized to perform: s3:PutObject"): the grants come from the resources the function is configured
with, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence

from cdktn_aws import cloudwatch_logs, iam
from constructs import Construct

from payments_infra.constructs.encryption import EncryptionKey
from payments_infra.constructs.policy import Grant, Statement, grant_statements, policy_document, trust_policy
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
    """The execution role of one function (or of functions running the same code on the same data)."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        naming: Naming,
        purpose: str,
        description: str,
        key: EncryptionKey,
        log_groups: Sequence[cloudwatch_logs.AwsGroup],
        grants: Sequence[Grant],
        key_sid: str | None = None,
        in_vpc: bool = True,
    ) -> None:
        """``key_sid``: the id of the statement that lets the role use the key for the encrypted data its grants
        reach (policy.grant_statements)."""
        super().__init__(scope, id_)
        trust = trust_policy(
            self,
            "trust",
            sid="LambdaAssumesRole",
            service="lambda.amazonaws.com",
            conditions=[("StringEquals", "aws:SourceAccount", [key.account_id])],
        )
        self.role = iam.AwsRole(
            self,
            "role",
            name=naming.role(purpose),
            description=f"{description} ({naming.tag})",
            assume_role_policy=trust.json,
        )
        attach = Statement(sid="AttachToPrivateSubnets", actions=list(VPC_ACTIONS), resources=["*"])
        document = policy_document(
            self,
            "grants",
            [
                *grant_statements(grants, key_sid=key_sid),
                Statement(
                    sid="WriteOwnLogs",
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[f"{group.arn}:*" for group in log_groups],
                ),
                # Only for a function in the VPC: one outside it has no use for network interfaces.
                *([attach] if in_vpc else []),
            ],
        )
        self.policy = iam.AwsPolicy(
            self,
            "policy",
            name=naming.policy(purpose),
            description=f"Least privilege: {description.lower()} ({naming.tag})",
            policy=document.json,
        )
        self.attachment = iam.AwsRolePolicyAttachment(
            self, "attachment", role=self.role.name, policy_arn=self.policy.arn
        )

    @property
    def arn(self) -> str:
        """The role's ARN."""
        return self.role.arn
