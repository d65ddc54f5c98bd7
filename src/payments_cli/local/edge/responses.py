"""API Gateway's own answers (gateway responses): the stack's, and API Gateway's defaults for the rest."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: API Gateway's answers when a stack configures none of its own (type -> status, body).
DEFAULT_RESPONSES: dict[str, tuple[int, str]] = {
    "UNAUTHORIZED": (401, '{"message":"Unauthorized"}'),
    "ACCESS_DENIED": (403, '{"message":"User is not authorized to access this resource"}'),
    "AUTHORIZER_FAILURE": (500, '{"message":null}'),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, '{"message":null}'),
    "MISSING_AUTHENTICATION_TOKEN": (403, '{"message":"Missing Authentication Token"}'),
    "THROTTLED": (429, '{"message":"Too Many Requests"}'),
}


@dataclass(frozen=True)
class GatewayResponse:
    """What API Gateway answers itself for one response type."""

    status: int
    headers: tuple[tuple[str, str], ...]
    template: str

    def render(
        self, request_id: str, authorizer: Mapping[str, Any] | None = None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """The response, with the context variables the stacks' templates use: the request id, and the
        authorizer's context (a Deny's ``message``) as API Gateway substitutes it, verbatim; a variable the
        context lacks is empty, as there."""
        context = {str(k): str(v) for k, v in (authorizer or {}).items()}
        body = _AUTHORIZER_VARIABLE.sub(lambda m: context.get(m.group(1), ""), self.template)
        body = body.replace("$context.requestId", request_id)
        return self.status, [("Content-Type", "application/json"), *self.headers], body.encode()


_AUTHORIZER_VARIABLE = re.compile(r"\$context\.authorizer\.([A-Za-z0-9_]+)")


def read_gateway_responses(apigateway: Any, rest_api_id: str) -> dict[str, GatewayResponse]:
    """Every response type the stack configured, plus API Gateway's defaults for the rest."""
    responses = {kind: GatewayResponse(status, (), body) for kind, (status, body) in DEFAULT_RESPONSES.items()}
    for item in apigateway.get_gateway_responses(restApiId=rest_api_id).get("items", []):
        kind = item.get("responseType")
        default_status, default_body = DEFAULT_RESPONSES.get(kind, (500, '{"message":null}'))
        headers = tuple(
            (name.removeprefix("gatewayresponse.header."), value.strip("'"))
            for name, value in (item.get("responseParameters") or {}).items()
            if name.startswith("gatewayresponse.header.")
        )
        template = (item.get("responseTemplates") or {}).get("application/json", default_body)
        responses[kind] = GatewayResponse(int(item.get("statusCode") or default_status), headers, template)
    return responses


def json_body(data: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(data, separators=(",", ":")).encode()
