"""What AWS does in front of the function, as the local API server does it: the WAF rate rules (per
credential, and per address for credentials that are not a well-formed key), the API Gateway request authorizer
(run from the deployed zip, its answer cached per credential), and API Gateway's own answers (gateway responses).
Each is read back from the emulator as deployed, so the numbers and bodies are the stack's, not this module's
(see ``deviations``, gap 6).
"""

from __future__ import annotations

import collections
import fnmatch
import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"

#: API Gateway's answers when a stack configures none of its own (type -> status, body).
DEFAULT_RESPONSES: dict[str, tuple[int, str]] = {
    "UNAUTHORIZED": (401, '{"message":"Unauthorized"}'),
    "ACCESS_DENIED": (403, '{"message":"User is not authorized to access this resource"}'),
    "AUTHORIZER_FAILURE": (500, '{"message":null}'),
    "AUTHORIZER_CONFIGURATION_ERROR": (500, '{"message":null}'),
    "MISSING_AUTHENTICATION_TOKEN": (403, '{"message":"Missing Authentication Token"}'),
    "THROTTLED": (429, '{"message":"Too Many Requests"}'),
}


def fingerprint(credential: str) -> str:
    """What the server keeps of a credential to count or cache by: its SHA-256, never the secret itself."""
    return hashlib.sha256(credential.encode("utf-8", "surrogatepass")).hexdigest()


def stage_resource_arn(api_id: str, stage: str) -> str:
    """The ARN WAF associates a web ACL with: the REST API's stage."""
    return f"arn:aws:apigateway:{REGION}::/restapis/{api_id}/stages/{stage}"


def method_arn(api_id: str, stage: str, method: str, path: str) -> str:
    """The ``methodArn`` an authorizer receives for a request."""
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{stage}/{method}{path}"


# --- WAF ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScopeDown:
    """A rate rule's scope-down statement, as far as the stacks use one: a regex on one header, or its negation
    (a request without the header matches no regex)."""

    header: str
    pattern: str
    negated: bool = False
    transformations: tuple[str, ...] = ()

    def matches(self, headers: Mapping[str, str]) -> bool:
        value = headers.get(self.header)
        if value is not None:
            for kind in self.transformations:
                value = _TRANSFORMATIONS[kind](value)
        found = value is not None and re.search(self.pattern, value) is not None
        return found != self.negated


@dataclass(frozen=True)
class RateLimit:
    """A WAF rate-based rule keyed on one header (``header``) or on the source address (``by_address``), maybe
    scoped down to some requests, with its block response."""

    limit: int
    window_s: int
    header: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    content_type: str = "application/json"
    #: The WAF text transformations applied to the header's value before counting, in priority order.
    transformations: tuple[str, ...] = ()
    by_address: bool = False
    #: Only the requests this matches are counted, and only they are blocked.
    scope_down: ScopeDown | None = None

    def key(self, value: str) -> str:
        """What WAF counts a request under: the header's value through the rule's transformations."""
        for kind in self.transformations:
            value = _TRANSFORMATIONS[kind](value)
        return value

    def key_of(self, headers: Mapping[str, str], source_ip: str) -> str | None:
        """What this request is counted under (header names lower-cased), or None when the rule does not count it:
        outside its scope-down statement, or without the header it aggregates on."""
        if self.scope_down is not None and not self.scope_down.matches(headers):
            return None
        if self.by_address:
            return source_ip
        value = headers.get(self.header)
        return None if value is None else self.key(value)

    def describe(self) -> str:
        """For the health document and logs."""
        per = "source address" if self.by_address else f"{self.header} header"
        scoped = "" if self.scope_down is None else " (scoped down)"
        return f"{self.limit} requests per {self.window_s}s per {per}{scoped}"


def read_rate_limits(wafv2: Any, resource_arn: str) -> list[RateLimit]:
    """The rate rules of the web ACL associated with ``resource_arn``, in priority order (none without one)."""
    try:
        acl = wafv2.get_web_acl_for_resource(ResourceArn=resource_arn).get("WebACL")
    except Exception:  # noqa: BLE001 - no association (or no WAF in this emulator): no limit to enforce
        return []
    if not acl:
        return []
    bodies = acl.get("CustomResponseBodies") or {}
    rules = []
    for rule in sorted(acl.get("Rules") or [], key=lambda r: int(r.get("Priority", 0))):
        statement = (rule.get("Statement") or {}).get("RateBasedStatement")
        block = ((rule.get("Action") or {}).get("Block") or {}).get("CustomResponse")
        if not statement or block is None:
            continue
        by_address = statement.get("AggregateKeyType") == "IP"
        keys = statement.get("CustomKeys") or []
        headers = [k["Header"] for k in keys if "Header" in k]
        if not by_address and len(headers) != 1:
            continue
        body = bodies.get(block.get("CustomResponseBodyKey"), {})
        steps = _transformations(headers[0].get("TextTransformations") if headers else [])
        rules.append(
            RateLimit(
                limit=int(statement["Limit"]),
                window_s=int(statement.get("EvaluationWindowSec", 300)),
                header="" if by_address else str(headers[0]["Name"]).lower(),
                status=int(block.get("ResponseCode", 403)),
                headers=tuple((h["Name"], h["Value"]) for h in block.get("ResponseHeaders") or []),
                body=str(body.get("Content", "")).encode(),
                content_type="application/json" if body.get("ContentType") == "APPLICATION_JSON" else "text/plain",
                transformations=steps,
                by_address=by_address,
                scope_down=_scope_down(statement.get("ScopeDownStatement")),
            )
        )
    return rules


def _transformations(steps: Any) -> tuple[str, ...]:
    ordered = sorted(steps or [], key=lambda t: int(t.get("Priority", 0)))
    unknown = [str(t.get("Type")) for t in ordered if t.get("Type") not in _TRANSFORMATIONS]
    if unknown:
        raise ValueError(
            f"the WAF rate rule uses text transformation(s) {', '.join(unknown)}, which the local edge does not "
            "emulate: add them to payments_cli/local/edge.py (_TRANSFORMATIONS)"
        )
    return tuple(str(t["Type"]) for t in ordered if t["Type"] != "NONE")


def _scope_down(statement: Any) -> ScopeDown | None:
    """The scope-down statements the local edge emulates: a regex on one header, or NOT of one."""
    if not statement:
        return None
    negated = "NotStatement" in statement
    inner = statement["NotStatement"]["Statement"] if negated else statement
    regex = inner.get("RegexMatchStatement")
    header = ((regex or {}).get("FieldToMatch") or {}).get("SingleHeader")
    if regex is None or header is None:
        raise ValueError(
            f"the WAF rate rule's scope-down statement {sorted(statement)} is not one the local edge emulates (a "
            "regex on one header, or NOT of one): add it to payments_cli/local/edge.py (_scope_down)"
        )
    return ScopeDown(
        header=str(header["Name"]).lower(),
        pattern=str(regex["RegexString"]),
        negated=negated,
        transformations=_transformations(regex.get("TextTransformations")),
    )


def _compress_white_space(value: str) -> str:
    # WAF: \f \t \n \r \v and NBSP (decimal 160) become spaces, then each run of spaces one space.
    return re.sub(" {2,}", " ", re.sub("[\f\t\n\r\v\xa0]", " ", value))


#: The WAF text transformations the local edge applies as WAF does (the rate rule uses these).
_TRANSFORMATIONS: dict[str, Callable[[str], str]] = {
    "NONE": lambda value: value,
    "LOWERCASE": str.lower,
    "COMPRESS_WHITE_SPACE": _compress_white_space,
}


#: The most credentials the local edge keeps an answer or a count for at once (API Gateway's and WAF's own
#: memory is theirs; this process's is not unbounded).
MAX_KEPT = 10_000


class SlidingWindowLimiter:
    """Counts each key's requests over the last ``window_s`` seconds, as a WAF rate-based rule does."""

    def __init__(self, rule: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.rule = rule
        self._clock = clock
        self._seen: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one request for ``key``; False when it is over the limit. Keys with nothing left in their
        window are dropped once MAX_KEPT are held (junk credentials would otherwise be kept forever); a key
        still counting is never dropped, so flooding with other keys cannot reset one's count."""
        now = self._clock()
        with self._lock:
            if len(self._seen) >= MAX_KEPT:
                horizon = now - self.rule.window_s
                for stale in [k for k, times in self._seen.items() if not times or times[-1] <= horizon]:
                    del self._seen[stale]
            seen = self._seen.setdefault(fingerprint(key), collections.deque())
            while seen and seen[0] <= now - self.rule.window_s:
                seen.popleft()
            seen.append(now)
            return len(seen) <= self.rule.limit

    def __len__(self) -> int:
        return len(self._seen)


# --- API Gateway authorizers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Authorizer:
    """A REQUEST authorizer: the function it calls, the header it needs, how long its answers are kept."""

    id: str
    function: str
    header: str
    ttl_s: int
    #: Whether the source address is an identity source too (answers are then cached per header and address).
    by_address: bool = False


#: The one context variable the local edge takes as an identity source.
SOURCE_ADDRESS = "context.identity.sourceIp"


def read_authorizers(apigateway: Any, rest_api_id: str) -> dict[str, Authorizer]:
    """The API's Lambda REQUEST authorizers by id: those whose identity sources are one header and, optionally,
    the source address (what the stacks configure; any other is left out, so its routes answer as misconfigured)."""
    found = {}
    for item in apigateway.get_authorizers(restApiId=rest_api_id).get("items", []):
        uri = str(item.get("authorizerUri", ""))
        function = uri.split(":function:", 1)[1].split("/", 1)[0].split(":", 1)[0] if ":function:" in uri else ""
        sources = [part.strip() for part in str(item.get("identitySource", "")).split(",")]
        headers = [part for part in sources if part.startswith("method.request.header.")]
        if item.get("type") != "REQUEST" or not function or len(headers) != 1:
            continue
        if any(part not in (headers[0], SOURCE_ADDRESS) for part in sources):
            continue
        found[item["id"]] = Authorizer(
            item["id"],
            function,
            headers[0].removeprefix("method.request.header.").lower(),
            int(item.get("authorizerResultTtlInSeconds") or 0),
            by_address=SOURCE_ADDRESS in sources,
        )
    return found


@dataclass
class AuthorizerCache:
    """Answers kept per (authorizer, identity value) for the authorizer's TTL, as API Gateway does."""

    clock: Callable[[], float] = time.monotonic
    _entries: dict[tuple[str, str], tuple[float, dict[str, Any]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, authorizer: Authorizer, identity: str) -> dict[str, Any] | None:
        """A kept answer, if still fresh."""
        with self._lock:
            entry = self._entries.get((authorizer.id, fingerprint(identity)))
            if entry is None or entry[0] <= self.clock():
                return None
            return entry[1]

    def put(self, authorizer: Authorizer, identity: str, answer: dict[str, Any]) -> None:
        """Keep an answer (only policies are kept; failures are not). Expired answers are dropped as new ones
        come, and at most MAX_KEPT are kept (the oldest go first), so distinct junk credentials cannot grow it
        without bound."""
        if authorizer.ttl_s > 0:
            with self._lock:
                now = self.clock()
                if len(self._entries) >= MAX_KEPT:
                    for key in [k for k, (ends, _) in self._entries.items() if ends <= now]:
                        del self._entries[key]
                    while len(self._entries) >= MAX_KEPT:
                        del self._entries[next(iter(self._entries))]  # the oldest kept (insertion order)
                self._entries.pop((authorizer.id, fingerprint(identity)), None)
                self._entries[(authorizer.id, fingerprint(identity))] = (now + authorizer.ttl_s, answer)

    def __len__(self) -> int:
        return len(self._entries)


def policy_effect(answer: Any, arn: str) -> str | None:
    """``Allow`` or ``Deny`` for ``arn`` under the authorizer's policy; None when the answer is malformed.

    As IAM evaluates: an explicit Deny wins, then an Allow; nothing matching is a Deny.
    """
    if not isinstance(answer, dict) or not isinstance(answer.get("policyDocument"), dict):
        return None
    statements = answer["policyDocument"].get("Statement")
    if not isinstance(statements, list) or "principalId" not in answer:
        return None
    effects = set()
    for statement in statements:
        actions = statement.get("Action", [])
        resources = statement.get("Resource", [])
        actions = [actions] if isinstance(actions, str) else actions
        resources = [resources] if isinstance(resources, str) else resources
        if any(fnmatch.fnmatchcase("execute-api:Invoke", a) for a in actions) and any(
            fnmatch.fnmatchcase(arn, r) for r in resources
        ):
            effects.add(statement.get("Effect"))
    if "Deny" in effects:
        return "Deny"
    return "Allow" if "Allow" in effects else "Deny"


# --- gateway responses -----------------------------------------------------------------------------------


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
