"""The local target's stand-ins for WAF and API Gateway: the rate window, the authorizer cache and
IAM-style policy evaluation, as AWS documents them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from payments_cli.local.edge.authorizers import Authorizer, AuthorizerCache, policy_effect, read_authorizers
from payments_cli.local.edge.credentials import MAX_KEPT
from payments_cli.local.edge.responses import read_gateway_responses
from payments_cli.local.edge.waf import RateLimit, SlidingWindowLimiter, read_rate_limits

ARN = "arn:aws:execute-api:us-east-1:123456789012:api/v1/GET/payments/pay_x"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def rule(limit: int = 3, window_s: int = 60) -> RateLimit:
    return RateLimit(limit, window_s, "authorization", 429, (("Retry-After", "60"),), b"{}")


def test_the_window_counts_each_key_apart_and_slides() -> None:
    clock = Clock()
    limiter = SlidingWindowLimiter(rule(), clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b"), "another key has its own count"
    clock.now += 59.9
    assert not limiter.allow("a"), "still inside the window"
    clock.now += 0.2
    assert limiter.allow("a"), "the first requests left the window"


def test_the_cache_keeps_answers_for_the_ttl_and_never_the_secret() -> None:
    clock = Clock()
    cache = AuthorizerCache(clock=clock)
    authorizer = Authorizer("a1", "fn", "authorization", ttl_s=10)
    cache.put(authorizer, "Bearer sk_test_secret", {"principalId": "k"})
    assert cache.get(authorizer, "Bearer sk_test_secret") == {"principalId": "k"}
    assert "sk_test_secret" not in repr(cache._entries)
    clock.now += 10
    assert cache.get(authorizer, "Bearer sk_test_secret") is None
    uncached = Authorizer("a2", "fn", "authorization", ttl_s=0)
    cache.put(uncached, "x", {"principalId": "k"})
    assert cache.get(uncached, "x") is None


def answer(*statements: dict[str, object]) -> dict[str, object]:
    return {"principalId": "k", "policyDocument": {"Version": "2012-10-17", "Statement": list(statements)}}


@pytest.mark.parametrize(
    ("policy", "effect"),
    [
        (
            answer({"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*:*:api/v1/*"}),
            "Allow",
        ),
        (answer({"Action": ["execute-api:*"], "Effect": "Allow", "Resource": [ARN]}), "Allow"),
        (
            answer({"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*:*:api/v2/*"}),
            "Deny",
        ),
        (
            answer(
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "*"},
                {"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": ARN},
            ),
            "Deny",
        ),
        (answer(), "Deny"),
        ({"policyDocument": {"Statement": []}}, None),
        ({"principalId": "k"}, None),
        ("Allow", None),
    ],
)
def test_policy_effect(policy: object, effect: str | None) -> None:
    assert policy_effect(policy, ARN) == effect


class FakeWaf:
    def __init__(self, acl: Mapping[str, object] | None) -> None:
        self.acl = acl

    def get_web_acl_for_resource(self, ResourceArn: str) -> dict[str, object]:
        if self.acl is None:
            raise RuntimeError("WAFNonexistentItemException")
        return {"WebACL": self.acl}


def test_the_rate_rule_is_read_back_as_deployed() -> None:
    acl = {
        "CustomResponseBodies": {"rl": {"Content": '{"error":{}}', "ContentType": "APPLICATION_JSON"}},
        "Rules": [
            {
                "Statement": {
                    "RateBasedStatement": {
                        "Limit": 600,
                        "EvaluationWindowSec": 60,
                        "AggregateKeyType": "CUSTOM_KEYS",
                        "CustomKeys": [{"Header": {"Name": "Authorization", "TextTransformations": []}}],
                    }
                },
                "Action": {
                    "Block": {
                        "CustomResponse": {
                            "ResponseCode": 429,
                            "CustomResponseBodyKey": "rl",
                            "ResponseHeaders": [{"Name": "Retry-After", "Value": "60"}],
                        }
                    }
                },
            }
        ],
    }
    assert read_rate_limits(FakeWaf(acl), "arn") == [
        RateLimit(600, 60, "authorization", 429, (("Retry-After", "60"),), b'{"error":{}}')
    ]
    assert read_rate_limits(FakeWaf(None), "arn") == []
    assert read_rate_limits(FakeWaf({"Rules": []}), "arn") == []


def test_the_rate_rules_text_transformations_make_every_spelling_of_a_key_one_count() -> None:
    rule = _rate_acl([{"Priority": 1, "Type": "LOWERCASE"}, {"Priority": 0, "Type": "COMPRESS_WHITE_SPACE"}])
    (limit,) = read_rate_limits(FakeWaf(rule), "arn")
    assert limit.transformations == ("COMPRESS_WHITE_SPACE", "LOWERCASE")
    spellings = ["Bearer sk_AbC", "bearer sk_AbC", "BEARER  sk_AbC", "Bearer\tsk_AbC", "Bearer\xa0\xa0sk_abc"]
    assert {limit.key(s) for s in spellings} == {"bearer sk_abc"}
    with pytest.raises(ValueError, match="URL_DECODE, which the local edge does not emulate"):
        read_rate_limits(FakeWaf(_rate_acl([{"Priority": 0, "Type": "URL_DECODE"}])), "arn")


def _rate_acl(transformations: list[dict[str, object]]) -> dict[str, object]:
    return {"Rules": [_rate_rule(transformations)]}


def _rate_rule(transformations: list[dict[str, object]]) -> dict[str, object]:
    return {
        "Statement": {
            "RateBasedStatement": {
                "Limit": 10,
                "CustomKeys": [{"Header": {"Name": "Authorization", "TextTransformations": transformations}}],
            }
        },
        "Action": {"Block": {"CustomResponse": {"ResponseCode": 429}}},
    }


def _per_address_acl(scope_down: Mapping[str, object]) -> dict[str, object]:
    return {
        "Rules": [
            {
                "Priority": 1,
                "Statement": {
                    "RateBasedStatement": {
                        "Limit": 2,
                        "EvaluationWindowSec": 60,
                        "AggregateKeyType": "IP",
                        "ScopeDownStatement": scope_down,
                    }
                },
                "Action": {"Block": {"CustomResponse": {"ResponseCode": 401}}},
            },
            _rate_rule([]) | {"Priority": 0},
        ]
    }


WELL_FORMED = {
    "RegexMatchStatement": {
        "RegexString": "^Bearer sk_[a-z]{3}$",
        "FieldToMatch": {"SingleHeader": {"Name": "Authorization"}},
        "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
    }
}


def test_a_rule_per_address_scoped_down_to_what_is_not_well_formed_counts_and_blocks_only_that() -> None:
    """WAF's second rule as deployed: aggregated on the source address, counting (and blocking) only requests
    whose Authorization does not match the scope-down regex; rules come back in priority order."""
    per_credential, per_address = read_rate_limits(
        FakeWaf(_per_address_acl({"NotStatement": {"Statement": WELL_FORMED}})), "arn"
    )
    assert not per_credential.by_address and per_address.by_address and per_address.status == 401
    assert per_address.describe() == "2 requests per 60s per source address (scoped down)"
    assert per_address.key_of({"authorization": "Bearer sk_abc"}, "10.0.0.1") is None, "well-formed: not counted"
    assert per_address.key_of({"authorization": "Bearer junk"}, "10.0.0.1") == "10.0.0.1"
    assert per_address.key_of({}, "10.0.0.2") == "10.0.0.2", "no header matches no regex: counted"
    assert per_credential.key_of({}, "10.0.0.2") is None, "the per-credential rule counts only a present key"
    assert per_credential.key_of({"authorization": "Bearer junk"}, "10.0.0.1") == "Bearer junk"
    limiter = SlidingWindowLimiter(per_address, Clock())
    assert [limiter.allow("10.0.0.1") for _ in range(3)] == [True, True, False]
    (positive,) = read_rate_limits(FakeWaf(_per_address_acl(WELL_FORMED)), "arn")[1:]
    assert positive.key_of({"authorization": "Bearer sk_abc"}, "a") == "a", "a regex not negated counts its matches"
    with pytest.raises(ValueError, match="not one the local edge emulates"):
        read_rate_limits(FakeWaf(_per_address_acl({"ByteMatchStatement": {}})), "arn")


class FakeApiGateway:
    def get_gateway_responses(self, restApiId: str) -> dict[str, object]:
        return {
            "items": [
                {
                    "responseType": "UNAUTHORIZED",
                    "statusCode": "401",
                    "responseParameters": {"gatewayresponse.header.WWW-Authenticate": "'Bearer'"},
                    "responseTemplates": {"application/json": '{"id":"$context.requestId"}'},
                }
            ]
        }


def test_gateway_responses_as_configured_and_defaults_for_the_rest() -> None:
    responses = read_gateway_responses(FakeApiGateway(), "api")
    status, headers, body = responses["UNAUTHORIZED"].render("req-1")
    assert (status, body) == (401, b'{"id":"req-1"}') and ("WWW-Authenticate", "Bearer") in headers
    assert responses["ACCESS_DENIED"].render("r")[0] == 403, "API Gateway's own default"


def test_the_authorizer_cache_and_the_rate_counts_do_not_grow_without_bound() -> None:
    """Finding 8: 2.7 KiB per distinct credential, forever. Expired answers go as new ones come, at most MAX_KEPT
    are kept; a credential still counting is never dropped (flooding with others cannot reset its count)."""
    now = [0.0]
    cache = AuthorizerCache(clock=lambda: now[0])
    authorizer = Authorizer("a1", "fn", "authorization", 10)
    for i in range(MAX_KEPT + 500):
        cache.put(authorizer, f"Bearer junk{i}", {"principalId": "x"})
    assert len(cache) == MAX_KEPT and cache.get(authorizer, "Bearer junk0") is None
    assert cache.get(authorizer, f"Bearer junk{MAX_KEPT + 499}") is not None
    now[0] = 11.0
    cache.put(authorizer, "Bearer fresh", {"principalId": "y"})
    assert len(cache) == 1, "every expired answer went"

    limiter = SlidingWindowLimiter(RateLimit(3, 60, "authorization", 429, (), b""), clock=lambda: now[0])
    for _ in range(3):
        assert limiter.allow("Bearer busy")
    for i in range(MAX_KEPT + 10):
        limiter.allow(f"Bearer junk{i}")
    assert not limiter.allow("Bearer busy"), "the busy key's count survived the flood"
    now[0] += 61
    limiter.allow("Bearer later")
    assert len(limiter) == 1


class _Authorizers:
    def __init__(self, *sources: str) -> None:
        self.items = [
            {
                "id": f"a{i}",
                "type": "REQUEST",
                "identitySource": source,
                "authorizerResultTtlInSeconds": 10,
                "authorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
                "arn:aws:lambda:us-east-1:123456789012:function:auth/invocations",
            }
            for i, source in enumerate(sources)
        ]

    def get_authorizers(self, restApiId: str) -> dict[str, Any]:
        return {"items": self.items}


def test_the_local_edge_reads_the_identity_sources_the_stacks_configure() -> None:
    """One header, and optionally the source address (answers then cached per both); anything else is left out,
    so its routes answer as misconfigured rather than be checked on a cache key API Gateway would not use."""
    found = read_authorizers(
        _Authorizers(
            "method.request.header.Authorization, context.identity.sourceIp",
            "method.request.header.Authorization",
            "method.request.header.Authorization, method.request.querystring.k",
            "context.identity.sourceIp",
            "method.request.header.A, method.request.header.B",
        ),
        "api",
    )
    assert found == {
        "a0": Authorizer("a0", "auth", "authorization", 10, by_address=True),
        "a1": Authorizer("a1", "auth", "authorization", 10, by_address=False),
    }
