"""`payments console` over HTTP on the local target: the real command, serving the deployed alpha deployment's
overview read through its admin function (the zip), after payments made through the served API."""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psutil
import pytest

from tests.emulator.conftest import Cli
from tests.emulator.test_security_http import Client, new_key, pay

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def console(cli: Cli, alpha: dict[str, Any]) -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = cli.start("console", "--suffix", "alpha")
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]{43}", url), url
        yield process, url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def get(port: int, path: str, cookie: str | None = None) -> tuple[int, dict[str, str], str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def rate_and_totals(page: str) -> tuple[str, int]:
    rate = re.search(r'<strong id="hour-rate">([^<]+)</strong>', page)
    succeeded = re.search(r'<span class="succeeded">(\d+) succeeded</span>', page)
    assert rate and succeeded, page[:2000]
    return rate.group(1), int(succeeded.group(1))


def test_the_console_signs_in_once_and_its_overview_counts_the_payments_made(
    cli: Cli, alpha: dict[str, Any], console: tuple[subprocess.Popen[str], str]
) -> None:
    process, url = console
    parts = urlsplit(url)
    port = int(parts.port or 0)
    assert get(port, "/overview")[0] == 401, "no session, no page"
    status, headers, _ = get(port, f"/?{parts.query}")
    assert status == 303 and headers["location"] == "/overview"
    cookie = headers["set-cookie"].split(";", 1)[0]
    assert "httponly" in headers["set-cookie"].lower() and "samesite=strict" in headers["set-cookie"].lower()
    assert get(port, f"/?{parts.query}")[0] == 401, "the printed address works once"

    status, headers, before = get(port, "/overview", cookie)
    assert status == 200 and "script-src" not in headers["content-security-policy"]
    _, succeeded_before = rate_and_totals(before)

    api = Client(str(alpha["api"]["url"]))
    secret = str(new_key(cli, f"merch_console_{uuid.uuid4().hex[:8]}")["secret"])
    for _ in range(3):
        assert api.call("POST", "/payments", secret=secret, key=str(uuid.uuid4()), body=pay(1500))[0] == 201
    status, _, after = get(port, "/overview", cookie)
    assert status == 200
    _, succeeded_after = rate_and_totals(after)
    assert succeeded_after == succeeded_before + 3, "the chart's totals count the payments just made"
    assert secret not in after and secret[8:30] not in after

    # Bound to 127.0.0.1 and nothing else.
    listening = {c.laddr for c in psutil.Process(process.pid).net_connections() if c.status == psutil.CONN_LISTEN}
    assert {address.ip for address in listening} == {"127.0.0.1"}, listening
    # Another loopback address reaches the socket only if it listened on more than 127.0.0.1.
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection("127.0.0.2", port, timeout=5).connect()
