"""Rate limit: a WAF web ACL on the API stage that limits each credential, so one client cannot use up
what the others need.

A rate-based rule aggregates on the ``Authorization`` header, its whitespace compressed and lower-cased
(every spelling of one key shares its count): each API key has its own count, and a
key over ``api_rate_limit_per_credential`` requests in ``api_rate_limit_window_s`` seconds is answered
429 with ``Retry-After`` and the API's JSON error body until it slows down. The stage's own throttle
(``aws_api_gateway_method_settings``) stays as the overall ceiling. Sampled requests are off: WAF would
keep copies of requests, ``Authorization`` headers included, for anyone with console access to read.
The local API server reads this web ACL back from the emulator and enforces the same numbers.
"""

from __future__ import annotations

import json

from cdktn_aws import api_gateway, waf
from constructs import Construct

from payments_infra.environments import EnvironmentConfig
from payments_infra.naming import Naming

#: The header each credential is counted by (WAF matches header names case-insensitively).
CREDENTIAL_HEADER = "authorization"
#: Applied to the header's value before counting, in this order, so every spelling of one key is one count:
#: ``bearer  sk_…`` and ``BEARER sk_…`` are the same client as ``Bearer sk_…``. The authorizer accepts only the
#: last form's scheme-case variants; the others are refused, but still counted here, before any lookup.
CREDENTIAL_TRANSFORMATIONS = ("COMPRESS_WHITE_SPACE", "LOWERCASE")
RATE_LIMITED_BODY = "rate_limited"


class CredentialRateLimit(Construct):
    """A web ACL with one per-credential rate rule, associated with the API stage."""

    def __init__(
        self, scope: Construct, id_: str, *, config: EnvironmentConfig, naming: Naming, stage: api_gateway.AwsStage
    ) -> None:
        super().__init__(scope, id_)
        metric = naming.resource("api-rate").replace("-", "_")
        self.web_acl = waf.AwsWebAcl(
            self,
            "web-acl",
            name=naming.resource("api-rate"),
            description=f"Per-credential rate limit of the payments API ({naming.tag})",
            scope="REGIONAL",
            default_action=waf.AwsWebAcl.DefaultActionProperty(allow=waf.AwsWebAcl.DefaultActionAllowProperty()),
            custom_response_body=[
                waf.AwsWebAcl.CustomResponseBodyProperty(
                    key=RATE_LIMITED_BODY,
                    content_type="APPLICATION_JSON",
                    content=json.dumps(
                        {
                            "error": {
                                "code": "rate_limited",
                                "message": "too many requests with this API key; retry after the time in Retry-After",
                            }
                        },
                        separators=(",", ":"),
                    ),
                )
            ],
            rule=[
                waf.AwsWebAcl.RuleProperty(
                    name="per-credential-rate",
                    priority=0,
                    action=waf.AwsWebAcl.ActionProperty(
                        block=waf.AwsWebAcl.RuleActionBlockProperty(
                            custom_response=waf.AwsWebAcl.RuleActionBlockCustomResponseProperty(
                                response_code=429,
                                custom_response_body_key=RATE_LIMITED_BODY,
                                response_header=[
                                    waf.AwsWebAcl.RuleActionBlockCustomResponseResponseHeaderProperty(
                                        name="Retry-After", value=str(config.api_rate_limit_window_s)
                                    )
                                ],
                            )
                        )
                    ),
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
                )
            ],
            visibility_config=waf.AwsWebAcl.VisibilityConfigProperty(
                cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=False
            ),
        )
        self.association = waf.AwsWebAclAssociation(
            self, "association", resource_arn=stage.arn, web_acl_arn=self.web_acl.arn
        )
