"""localstripe (a stateful Stripe fake written by others, pinned in requirements/dev.in) on 127.0.0.1.

Its own ``localstripe`` command listens on every interface and keeps its state in ``/tmp/localstripe.pickle``
(shared by every instance on the machine); the tests need one private instance each, on loopback only. So
they run this module in a subprocess: the same aiohttp application, bound to 127.0.0.1 on a free port, with
its state in memory. ``python -m tests.fakes.localstripe_server PORT``; :func:`localstripe` starts and stops it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: A secret key localstripe accepts (any ``sk_…``); never a real one.
SECRET_KEY = "sk_test_localstripe_0123456789abcdef"
#: Test cards localstripe knows: approved, declined when charged, and one that asks for 3-D Secure.
VISA, DECLINED, THREE_D_SECURE = "4242424242424242", "4000000000000341", "4000000000003220"
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LocalStripe:
    """A running localstripe: its API base, and a few reads the tests count charges with."""

    api_base: str
    process: subprocess.Popen[bytes]

    def get(self, path: str) -> Any:
        request = urllib.request.Request(self.api_base + path, headers={"Authorization": f"Bearer {SECRET_KEY}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def post(self, path: str, form: dict[str, str]) -> Any:
        data = "&".join(f"{k}={v}" for k, v in form.items()).encode()
        request = urllib.request.Request(
            self.api_base + path, data=data, headers={"Authorization": f"Bearer {SECRET_KEY}"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def card(self, number: str) -> str:
        """A PaymentMethod for a test card number (what a merchant's front end would get from Stripe.js):
        the card number goes to localstripe here, in the test, and never to the platform."""
        made = self.post(
            "/v1/payment_methods",
            {
                "type": "card",
                "card[number]": number,
                "card[exp_month]": "12",
                "card[exp_year]": "2030",
                "card[cvc]": "123",
            },
        )
        return str(made["id"])

    def intents(self, payment_id: str) -> list[dict[str, Any]]:
        """Every PaymentIntent made for one of our payments (``metadata.payment_id``)."""
        listed = self.get("/v1/payment_intents?limit=100")["data"]
        return [i for i in listed if i.get("metadata", {}).get("payment_id") == payment_id]

    def charges(self, payment_id: str) -> list[dict[str, Any]]:
        """Every charge that went through for one of our payments: what a cardholder would see."""
        charges = [i.get("latest_charge") or {} for i in self.intents(payment_id)]
        return [c for c in charges if c.get("status") == "succeeded"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def localstripe() -> Iterator[LocalStripe]:
    """A private localstripe on 127.0.0.1, stopped at the end."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.localstripe_server", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    err = process.stderr.read().decode(errors="replace") if process.stderr else ""
                    raise RuntimeError(f"localstripe did not start: {err[-2000:]}") from None
                time.sleep(0.05)
        yield LocalStripe(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> None:
    from aiohttp import web
    from localstripe import resources, server  # type: ignore[import-untyped]  # no type information, no stubs

    resources.Store.dump_to_disk = lambda self: None  # state in memory only
    web.run_app(server.app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)


if __name__ == "__main__":
    main()
