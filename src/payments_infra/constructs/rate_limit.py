"""Rate limits at the edge: a WAF web ACL on the API stage with two rate-based rules.

- ``per-credential-rate`` limits each credential, so one client cannot use up what the others need. It
  aggregates on the ``Authorization`` header, its whitespace compressed and lower-cased (every spelling of one
  key shares its count): a key over ``api_rate_limit_per_credential`` requests in ``api_rate_limit_window_s``
  seconds is answered 429 with ``Retry-After`` and the API's JSON error body until it slows down.
- ``failed-authentications-per-address`` limits, per source address, the requests WAF can tell will fail to
  authenticate: those whose ``Authorization`` is not one well-formed API key (no header, another scheme,
  another shape). Over ``auth_failure_limit`` of them in ``auth_failure_window_s`` seconds, that address's
  further ones are answered 401 ``too_many_failed_authentications`` by WAF: they no longer invoke the
  authorizer, so spraying junk credentials cannot use up the authorizer's concurrency that every merchant's
  requests share. Requests with a well-formed key are neither counted nor blocked by it (the scope-down
  statement), so one client behind a NAT sending junk does not lock out its neighbours' good keys. A
  well-formed key that is wrong is a failure only the authorizer can see: it bounds those per address itself,
  with the same numbers, before any database lookup (payment_processor.failed_authentications).

The stage's own throttle (``aws_api_gateway_method_settings``) stays as the overall ceiling. Sampled requests
are off: WAF would keep copies of requests, ``Authorization`` headers included, for anyone with console access
to read. The local API server reads this web ACL back from the emulator and enforces the same rules.
"""

from __future__ import annotations

import json

from cdktn_aws import api_gateway, waf
from constructs import Construct

from payment_processor.apikeys import KEY_SHAPE
from payment_processor.authorizer import BEARER_SCHEME
from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming

#: The header each credential is counted by (WAF matches header names case-insensitively).
CREDENTIAL_HEADER = "authorization"
#: Applied to the header's value before counting, in this order, so every spelling of one key is one count:
#: ``bearer  sk_…`` and ``BEARER sk_…`` are the same client as ``Bearer sk_…``. The authorizer accepts only the
#: last form's scheme-case variants; the others are refused, but still counted here, before any lookup.
CREDENTIAL_TRANSFORMATIONS = ("COMPRESS_WHITE_SPACE", "LOWERCASE")
RATE_LIMITED_BODY = "rate_limited"
FAILED_AUTHENTICATIONS_BODY = "too_many_failed_authentications"
#: A well-formed credential as the authorizer takes it (payment_processor.authorizer and apikeys): the scheme in
#: any case, one space, a secret or restricted key of either mode. Anything else cannot authenticate.
WELL_FORMED_CREDENTIAL = f"^{BEARER_SCHEME} {KEY_SHAPE}$"


def _error_body(key: str, code: str, message: str) -> waf.AwsWebAcl.CustomResponseBodyProperty:
    return waf.AwsWebAcl.CustomResponseBodyProperty(
        key=key,
        content_type="APPLICATION_JSON",
        content=json.dumps({"error": {"code": code, "message": message}}, separators=(",", ":")),
    )


def _block(status: int, body_key: str, headers: dict[str, str]) -> waf.AwsWebAcl.ActionProperty:
    return waf.AwsWebAcl.ActionProperty(
        block=waf.AwsWebAcl.RuleActionBlockProperty(
            custom_response=waf.AwsWebAcl.RuleActionBlockCustomResponseProperty(
                response_code=status,
                custom_response_body_key=body_key,
                response_header=[
                    waf.AwsWebAcl.RuleActionBlockCustomResponseResponseHeaderProperty(name=name, value=value)
                    for name, value in headers.items()
                ],
            )
        )
    )


class CredentialRateLimit(Construct):
    """The web ACL (a per-credential rate rule, a per-address failed-authentications rule), associated with the
    API stage."""

    def __init__(
        self, scope: Construct, id_: str, *, config: EnvironmentConfig, naming: Naming, stage: api_gateway.AwsStage
    ) -> None:
        super().__init__(scope, id_)
        metric = naming.resource("api-rate").replace("-", "_")
        self.web_acl = waf.AwsWebAcl(
            self,
            "web-acl",
            name=naming.resource("api-rate"),
            description=f"Per-credential rate limit and per-address failed authentications ({naming.tag})",
            scope="REGIONAL",
            default_action=waf.AwsWebAcl.DefaultActionProperty(allow=waf.AwsWebAcl.DefaultActionAllowProperty()),
            custom_response_body=[
                _error_body(
                    RATE_LIMITED_BODY,
                    "rate_limited",
                    "too many requests with this API key; retry after the time in Retry-After",
                ),
                _error_body(
                    FAILED_AUTHENTICATIONS_BODY,
                    "too_many_failed_authentications",
                    "too many requests without a well-formed API key from this address; send "
                    "'Authorization: Bearer <your secret key>', and retry after the time in Retry-After",
                ),
            ],
            rule=[
                waf.AwsWebAcl.RuleProperty(
                    name="per-credential-rate",
                    priority=0,
                    action=_block(429, RATE_LIMITED_BODY, {"Retry-After": str(config.api_rate_limit_window_s)}),
                    # The statement's bindings are untyped (too deep for the generated classes): this is
                    # the resource's own Terraform shape.
                    statement={
                        "rate_based_statement": {
                            "limit": config.api_rate_limit_per_credential,
                            "evaluation_window_sec": config.api_rate_limit_window_s,
                            "aggregate_key_type": "CUSTOM_KEYS",
                            "custom_key": [
                                {
                                    "header": {
                                        "name": CREDENTIAL_HEADER,
                                        "text_transformation": [
                                            {"priority": priority, "type": kind}
                                            for priority, kind in enumerate(CREDENTIAL_TRANSFORMATIONS)
                                        ],
                                    }
                                }
                            ],
                        }
                    },
                    visibility_config=waf.AwsWebAcl.RuleVisibilityConfigProperty(
                        cloudwatch_metrics_enabled=True, metric_name=f"{metric}_rule", sampled_requests_enabled=False
                    ),
                ),
                waf.AwsWebAcl.RuleProperty(
                    name="failed-authentications-per-address",
                    priority=1,
                    # A 401 as the API's others are (api_responses: UNAUTHORIZED), and when to try again.
                    action=_block(
                        401,
                        FAILED_AUTHENTICATIONS_BODY,
                        {"WWW-Authenticate": "Bearer", "Retry-After": str(config.auth_failure_window_s)},
                    ),
                    statement={
                        "rate_based_statement": {
                            "limit": config.auth_failure_limit,
                            "evaluation_window_sec": config.auth_failure_window_s,
                            # The connection's address, never a header the client writes (X-Forwarded-For).
                            "aggregate_key_type": "IP",
                            # Counted and blocked: only what is not a well-formed key.
                            "scope_down_statement": {
                                "not_statement": {
                                    "statement": {
                                        "regex_match_statement": {
                                            "regex_string": WELL_FORMED_CREDENTIAL,
                                            "field_to_match": {"single_header": {"name": CREDENTIAL_HEADER}},
                                            "text_transformation": [{"priority": 0, "type": "NONE"}],
                                        }
                                    }
                                }
                            },
                        }
                    },
                    visibility_config=waf.AwsWebAcl.RuleVisibilityConfigProperty(
                        cloudwatch_metrics_enabled=True,
                        metric_name=f"{metric}_failed_authentications",
                        sampled_requests_enabled=False,
                    ),
                ),
            ],
            visibility_config=waf.AwsWebAcl.VisibilityConfigProperty(
                cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=False
            ),
        )
        self.association = waf.AwsWebAclAssociation(
            self, "association", resource_arn=stage.arn, web_acl_arn=self.web_acl.arn
        )
