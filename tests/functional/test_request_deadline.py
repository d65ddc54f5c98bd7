"""The request path against a black-holed S3 (a socket that accepts and never answers): the answer for a
committed payment always arrives before the function's deadline, and the event waits in the outbox."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from payment_processor import handler as handler_module
from payment_processor.aws import CALL_BUDGET_S, client
from payment_processor.config import Settings
from tests.conftest import Services
from tests.functional.test_postgres_flow import count
from tests.support import payment_body, post_payment

pytestmark = pytest.mark.functional


@pytest.fixture
def black_hole() -> Iterator[str]:
    """An endpoint whose TCP connections are accepted by the kernel and never answered."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


class Context:
    """Lambda's context, with a deadline ``seconds`` from now."""

    def __init__(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


@pytest.mark.parametrize("timeout_s", [15.0, 7.0, 4.0])
def test_a_black_holed_s3_never_holds_the_answer_past_the_deadline(
    clean: Services, monkeypatch: pytest.MonkeyPatch, black_hole: str, timeout_s: float
) -> None:
    env = clean.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    # S3 black-holed, the database and Secrets Manager still answering: the service as the handler builds
    # it, with its sink's client on the hole.
    service = handler_module.build_service(Settings.from_env(env))
    service._delivery._sink._client = client("s3", Settings.from_env({**env, "AWS_ENDPOINT_URL": black_hole}))  # type: ignore[attr-defined]
    monkeypatch.setattr(handler_module, "_service", service)
    started = time.monotonic()
    response = handler_module.handler(post_payment(payment_body(), key=f"hole-{timeout_s}"), Context(timeout_s))
    elapsed = time.monotonic() - started
    print(f"function timeout {timeout_s:.0f}s: answered {response['statusCode']} after {elapsed:.2f}s")
    assert response["statusCode"] == 201
    assert elapsed < timeout_s - 0.5, "answered before the deadline, with room to spare"
    # At most one S3 call was waited on: the request stops at its first failed put, and the failed event is
    # not due again within its own run (its backoff starts when the put failed, not when the batch began).
    assert elapsed < CALL_BUDGET_S + 1.0
    assert count(clean, "payments") == 1
    with clean.admin() as conn:
        pending = conn.execute("SELECT count(*) FROM transaction_log_outbox WHERE delivered_at IS NULL").fetchone()
    assert pending == (2,), "both events (processing, succeeded) wait in the outbox for the scheduled job"
