"""The ARNs the edge hands to WAF and to authorizers, in the emulator's account and region."""

from __future__ import annotations

from payments_cli.local.emulator import EMULATOR_ACCOUNT as ACCOUNT
from payments_cli.local.emulator import EMULATOR_REGION as REGION


def stage_resource_arn(api_id: str, stage: str) -> str:
    """The ARN WAF associates a web ACL with: the REST API's stage."""
    return f"arn:aws:apigateway:{REGION}::/restapis/{api_id}/stages/{stage}"


def method_arn(api_id: str, stage: str, method: str, path: str) -> str:
    """The ``methodArn`` an authorizer receives for a request."""
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{stage}/{method}{path}"
