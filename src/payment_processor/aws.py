"""AWS SDK clients configured from Settings (data access).

``AWS_ENDPOINT_URL`` points every client at a local emulator; unset, boto3 talks to AWS. Timeouts
are short and retries few: a Lambda invocation has seconds, not minutes, to give up and say 503.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from payment_processor.config import Settings

if TYPE_CHECKING:
    from botocore.config import Config


#: One attempt, short timeouts: a call that fails is retried by the outbox, not inside the request, so one
#: call's time is bounded and the request's deadline check stays meaningful. ("max_attempts": 1 would still
#: mean one retry: botocore turns it into total_max_attempts 2.)
#: Built on the first client, as boto3 is imported: botocore and boto3 cost ~0.2 s of a cold start even from
#: .pyc, and nothing needs them before the first Secrets Manager or S3 call.
@cache
def _client_config() -> Config:
    from botocore.config import Config

    return Config(
        connect_timeout=1,
        read_timeout=2,
        retries={"total_max_attempts": 1, "mode": "standard"},
    )


#: The longest one SDK call can take with the configuration above, in seconds: connect (1) + the wait for
#: "100 Continue" that an S3 put with a body does first (1, urllib3's) + read (2). Measured against a
#: black-holed endpoint (tests/functional/test_request_deadline.py).
CALL_BUDGET_S = 4.0


def client(service: str, settings: Settings) -> Any:
    """A boto3 client for ``service`` honouring the settings' region and endpoint (boto3 is imported here,
    on the first call: see _client_config)."""
    import boto3

    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]
        region_name=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        config=_client_config(),
    )
