"""The API Gateway request authorizer: ``Authorization: Bearer <secret key>`` to a policy (logic layer).

API Gateway calls it before the processor, with the ``Authorization`` header as its identity source
and the result cached per header value (``authorizer_result_ttl_in_seconds`` ≤ 300, so a revoked key
stops working within that time). What it answers, and what the client then sees:

- no ``Authorization`` header: API Gateway answers 401 itself (gateway response UNAUTHORIZED,
  ``authentication_required``) and never calls the authorizer;
- a header that is not ``Bearer <token>``: raise ``Unauthorized`` (message exactly "Unauthorized",
  which API Gateway maps to that same 401);
- an unknown, revoked or other-mode key: a Deny policy (gateway response ACCESS_DENIED, answered as
  401 ``invalid_api_key``);
- a valid key: an Allow policy for every method of this API's stage (the cached result serves every
  route), with ``merchant_id``, ``key_id`` and ``read_only`` in the context the processor receives as
  ``requestContext.authorizer``. The processor refuses writes with a read-only key (403).
"""

from __future__ import annotations

from typing import Any

from payment_processor.apikeys import ApiKeys


class Unauthorized(Exception):
    """No usable credentials: API Gateway answers 401 when an authorizer fails with this exact message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


def bearer_token(headers: dict[str, Any] | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive), else None."""
    for name, value in (headers or {}).items():
        if name.lower() == "authorization" and isinstance(value, str):
            scheme, _, token = value.strip().partition(" ")
            token = token.strip()
            if scheme.lower() == "bearer" and token and " " not in token:
                return token
            return None
    return None


def stage_arn(method_arn: str) -> str:
    """``arn:…:execute-api:region:account:api/stage/*``: every method and path of the calling stage.

    The policy is cached per token and reused for other routes, so it must cover them all.
    """
    head, _, path = method_arn.partition("/")
    stage = path.split("/", 1)[0]
    return f"{head}/{stage}/*"


def policy(principal: str, effect: str, method_arn: str, context: dict[str, str]) -> dict[str, Any]:
    """An authorizer answer: an IAM policy on execute-api:Invoke plus the context the processor gets."""
    return {
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": stage_arn(method_arn)}],
        },
        "context": context,
    }


def authorize(event: dict[str, Any], keys: ApiKeys) -> dict[str, Any]:
    """Answer one REQUEST authorizer event."""
    method_arn = str(event.get("methodArn") or "")
    token = bearer_token(event.get("headers"))
    if token is None:
        raise Unauthorized
    key = keys.authenticate(token)
    if key is None:
        return policy("anonymous", "Deny", method_arn, {"error_code": "invalid_api_key"})
    return policy(
        key.id,
        "Allow",
        method_arn,
        {"merchant_id": key.merchant_id, "key_id": key.id, "read_only": "true" if key.read_only else "false"},
    )
