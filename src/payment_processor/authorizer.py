"""The API Gateway request authorizer: ``Authorization: Bearer <secret key>`` to a policy (logic layer).

API Gateway calls it before the processor, with the ``Authorization`` header and the source address as its
identity sources and the result cached per pair of them (``authorizer_result_ttl_in_seconds`` ≤ 300, so a
revoked key stops working within that time, and an address's lockout never reaches another address).
What it answers, and what the client then sees:

- no ``Authorization`` header: API Gateway answers 401 itself (gateway response UNAUTHORIZED,
  ``authentication_required``) and never calls the authorizer;
- anything but exactly one ``Authorization`` header whose value is exactly ``Bearer <token>`` (see
  :func:`bearer_token`): raise ``Unauthorized`` (message exactly "Unauthorized", which API Gateway maps to
  that same 401), before any database lookup;
- an unknown, revoked, other-mode or expired key: a Deny policy with the reason as ``message`` and the code
  ``invalid_api_key`` in its context (gateway response ACCESS_DENIED, answered as 401 with that code and
  message: an expired key's says it expired and names its replacement); each one that cost a lookup counts
  against the request's source address (:mod:`payment_processor.failed_authentications`);
- any credential from a source address over its bound of failed authentications: a Deny with the code
  ``too_many_failed_authentications``, without a lookup, until the address's window ends;
- a valid key: an Allow policy for every method of this API's stage (the cached result serves every
  route), with ``merchant_id``, ``key_id`` and ``read_only`` in the context the processor receives as
  ``requestContext.authorizer``. The processor refuses writes with a read-only key (403).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from payment_processor.apikeys import ApiKeys, Refusal
from payment_processor.failed_authentications import FailedAuthentications, lockout_message, source_address
from payment_processor.store.interfaces import StoreUnavailable


class Unauthorized(Exception):
    """No usable credentials: API Gateway answers 401 when an authorizer fails with this exact message."""

    def __init__(self) -> None:
        super().__init__("Unauthorized")


#: The one form of a credential: the scheme in any case, one space, and a token of visible ASCII characters.
#: The scheme in any case, as a regex (WAF's scope-down regex starts with it too).
BEARER_SCHEME = "[Bb][Ee][Aa][Rr][Ee][Rr]"
_CANONICAL = re.compile(BEARER_SCHEME + r" ([!-~]+)")


def bearer_token(event: dict[str, Any]) -> str | None:
    """The token of the request's one ``Authorization`` header, when its value is exactly ``Bearer <token>``.

    One canonical credential, so the value checked here is the value API Gateway caches this answer under
    and the value WAF counts the rate limit by. Refused (None): no header, or two of them in any mix of
    name cases or as a multi-value header (API Gateway would cache under one while this checked the other,
    and a later client sending the other, ``Bearer undefined`` say, would be answered as the key's
    merchant); any other scheme; a missing token; spaces, tabs or anything invisible around or inside it.
    """
    values = _authorization_values(event)
    if len(values) != 1 or not isinstance(values[0], str):
        return None
    match = _CANONICAL.fullmatch(values[0])
    return match.group(1) if match else None


def _authorization_values(event: dict[str, Any]) -> list[Any]:
    """Every ``Authorization`` value the event carries, whatever the case of the name: all of the multi-value
    map's, or (without one) the single map's; more than one entry in the single map counts as two."""
    single = [v for k, v in (event.get("headers") or {}).items() if str(k).lower() == "authorization"]
    multi = [
        value
        for k, values in (event.get("multiValueHeaders") or {}).items()
        if str(k).lower() == "authorization"
        for value in (values if isinstance(values, list) else [values])
    ]
    if not multi:
        return single
    # Both maps describe one request: they must agree on there being exactly one value, the same.
    return multi if len(single) == 1 and multi == single else [*multi, *single]


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


def _ignore(subject: str, reason: str) -> None:
    return None


def authorize(
    event: dict[str, Any],
    keys: ApiKeys,
    *,
    failures: FailedAuthentications | None = None,
    unnoted: Callable[[str, str], None] = _ignore,
) -> dict[str, Any]:
    """Answer one REQUEST authorizer event.

    Two writes are best effort, each heard of by ``unnoted(subject, reason)`` when it fails: the key's hour of
    use (a key that authenticated is still answered Allow; the hour is for operators, and the next cache miss
    writes it), and a refused key's count against its address (the refusal stands; the next failure counts).
    """
    method_arn = str(event.get("methodArn") or "")
    token = bearer_token(event)
    if token is None:
        raise Unauthorized
    address = source_address(((event.get("requestContext") or {}).get("identity") or {}).get("sourceIp"))
    if failures is not None and address is not None:
        until = failures.locked_until(address)
        if until is not None:
            return _deny(method_arn, "too_many_failed_authentications", lockout_message(until))
    key = keys.check(token)
    if isinstance(key, Refusal):
        if failures is not None and address is not None and key.looked_up:
            try:
                failures.note(address)
            except StoreUnavailable as exc:
                unnoted(address, str(exc))
        return _deny(method_arn, "invalid_api_key", key.reason)
    try:
        keys.note_use(key)
    except StoreUnavailable as exc:
        unnoted(key.id, str(exc))
    return policy(
        key.id,
        "Allow",
        method_arn,
        {"merchant_id": key.merchant_id, "key_id": key.id, "read_only": "true" if key.read_only else "false"},
    )


def _deny(method_arn: str, code: str, message: str) -> dict[str, Any]:
    return policy("anonymous", "Deny", method_arn, {"error_code": code, "message": message})
