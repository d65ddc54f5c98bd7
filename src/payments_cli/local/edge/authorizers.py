"""API Gateway's Lambda REQUEST authorizers as deployed: which function, which identity sources, how long an
answer is kept, and how the answer's policy decides."""

from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from payments_cli.local.edge.credentials import MAX_KEPT, fingerprint


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
