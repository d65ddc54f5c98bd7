"""The API Gateway account setting: the role API Gateway writes CloudWatch logs with, once per account and region.

A stage's access logs need it first ("BadRequestException: CloudWatch Logs role ARN must be set in account
settings to enable logging"), and it is one value for the whole account in a region: when every deployment set it to
a role of its own, the last one applied won, and destroying that deployment left every other API without a role.
So it lives in the account stack (stacks.account), applied before any deployment and left in place by their
destroys.
"""

from __future__ import annotations

from cdktn_aws import api_gateway, iam, meta_data_sources
from constructs import Construct

from payments_infra.constructs.policy import trust_policy
from payments_infra.naming import AccountNaming

#: The AWS-managed policy made for exactly this role (logs:CreateLogGroup/CreateLogStream/PutLogEvents and the
#: describes API Gateway needs); the one managed policy the platform uses.
PUSH_TO_CLOUDWATCH = "service-role/AmazonAPIGatewayPushToCloudWatchLogs"


class ApiGatewayLogging(Construct):
    """The role API Gateway assumes to write logs, and the account setting that names it."""

    def __init__(self, scope: Construct, id_: str, *, naming: AccountNaming) -> None:
        super().__init__(scope, id_)
        partition = meta_data_sources.DataAwsPartition(self, "partition")
        trust = trust_policy(self, "trust", sid="ApiGatewayAssumesRole", service="apigateway.amazonaws.com")
        self.role = iam.AwsRole(
            self,
            "role",
            name=naming.role("apigw-logs"),
            description=f"API Gateway writes access logs, for every API in the account ({naming.tag})",
            assume_role_policy=trust.json,
        )
        attachment = iam.AwsRolePolicyAttachment(
            self,
            "policy",
            role=self.role.name,
            policy_arn=f"arn:{partition.partition}:iam::aws:policy/{PUSH_TO_CLOUDWATCH}",
        )
        # The setting is read by API Gateway when a stage turns logging on: the role must be usable by then.
        self.setting = api_gateway.AwsAccount(
            self, "setting", cloudwatch_role_arn=self.role.arn, depends_on=[attachment]
        )
