"""WAF's rate-based rules of the deployed web ACL, read back from the emulator and applied as WAF does."""

from __future__ import annotations

import collections
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from payments_cli.local.edge.credentials import MAX_KEPT, fingerprint


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
            "emulate: add them to payments_cli/local/edge/waf.py (_TRANSFORMATIONS)"
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
            "regex on one header, or NOT of one): add it to payments_cli/local/edge/waf.py (_scope_down)"
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
