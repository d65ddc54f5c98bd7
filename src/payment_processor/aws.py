"""AWS SDK clients configured from Settings (data access).

``AWS_ENDPOINT_URL`` points every client at a local emulator; unset, the SDK talks to AWS. Timeouts
are short and retries few: a Lambda invocation has seconds, not minutes, to give up and say 503.

Clients are botocore's own, the ones boto3 hands out too (boto3 adds resources and S3 transfer helpers,
which nothing here uses, and its import pulls s3transfer: ~0.1 s of the first request). Every client of
one wiring comes from one botocore session, so the SDK's data (endpoints, partitions, the list of
services) is loaded and parsed once, not once per client.
"""

from __future__ import annotations

import threading
from functools import cache
from typing import TYPE_CHECKING, Any

from payment_processor.config import Settings

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.session import Session


#: One attempt, short timeouts: a call that fails is retried by the outbox, not inside the request, so one
#: call's time is bounded and the request's deadline check stays meaningful. ("max_attempts": 1 would still
#: mean one retry: botocore turns it into total_max_attempts 2.)
#: Built on the first client, as botocore is imported: botocore costs ~0.1 s of a cold start even from
#: .pyc, and nothing needs it before the first Secrets Manager or S3 call.
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

#: A botocore session is not safe to create clients from in two threads at once (its clients are).
_session_lock = threading.Lock()


def new_session() -> Session:
    """A fresh botocore session (botocore is imported here, on the first call: see _client_config).

    Pass it to :func:`client` for every client one wiring needs: they then share its loaded SDK data.
    """
    import botocore.session

    return botocore.session.get_session()


def client(service: str, settings: Settings, *, session: Session | None = None) -> Any:
    """A client for ``service`` honouring the settings' region and endpoint, from ``session`` (default: a
    session of its own)."""
    session = session or new_session()
    with _session_lock:
        return session.create_client(
            service,
            region_name=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            config=_client_config(),
        )
