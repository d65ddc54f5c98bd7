"""`payments console` over HTTP on the local target: the real command, serving the deployed alpha deployment's
overview read through its admin function (the zip), after payments made through the served API."""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from urllib.parse import urlencode, urlsplit

import psutil
import pytest

from payments_cli.local.emulator import emulator_client
from payments_cli.local.records import DeploymentRecord
from tests.emulator.conftest import Cli
from tests.emulator.test_security_http import Client, new_key, pay
from tests.local_target import console_process

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(900)]
#: The session cookie the first test signed in with (the printed address works once).
SESSION: list[str] = []


@pytest.fixture(scope="module")
def console(cli: Cli, alpha: DeploymentRecord) -> Iterator[tuple[subprocess.Popen[str], str]]:
    with console_process(cli, "alpha") as (process, url):
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]{43}", url), url
        yield process, url


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
    cli: Cli, alpha: DeploymentRecord, console: tuple[subprocess.Popen[str], str]
) -> None:
    process, url = console
    parts = urlsplit(url)
    port = int(parts.port or 0)
    assert get(port, "/overview")[0] == 401, "no session, no page"
    status, headers, _ = get(port, f"/?{parts.query}")
    assert status == 303 and headers["location"] == "/overview"
    cookie = headers["set-cookie"].split(";", 1)[0]
    SESSION.append(cookie)
    assert "httponly" in headers["set-cookie"].lower() and "samesite=strict" in headers["set-cookie"].lower()
    assert get(port, f"/?{parts.query}")[0] == 401, "the printed address works once"

    # An alarm of this deployment in the emulator's CloudWatch, in ALARM (dev deploys none of its own).
    cloudwatch = emulator_client(str(alpha["emulator"]), "cloudwatch")
    alarm = f"payment-console-test-{uuid.uuid4().hex[:6]}-dev-alpha"
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        MetricName="Errors",
        Namespace="AWS/Lambda",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="raised by the test")
    status, headers, before = get(port, "/overview", cookie)
    assert status == 200 and "unsafe-inline" not in headers["content-security-policy"]
    assert f'<tr class="state-alarm"><td>{alarm}</td><td>ALARM</td>' in before
    cloudwatch.delete_alarms(AlarmNames=[alarm])
    _, succeeded_before = rate_and_totals(before)

    api = Client(str(alpha["api"]["url"]))
    merchant = f"merch_console_{uuid.uuid4().hex[:8]}"
    secret = str(new_key(cli, merchant)["secret"])
    made = []
    for _ in range(3):
        status, _, payment = api.call("POST", "/payments", secret=secret, key=str(uuid.uuid4()), body=pay(1500))
        assert status == 201
        made.append(payment["id"])
    status, _, after = get(port, "/overview", cookie)
    assert status == 200
    _, succeeded_after = rate_and_totals(after)
    assert succeeded_after == succeeded_before + 3, "the chart's totals count the payments just made"
    assert secret not in after and secret[8:30] not in after

    # Found by merchant, newest first, and each opens on its timeline.
    status, _, found = get(port, f"/payments?merchant_id={merchant}", cookie)
    assert status == 200 and re.findall(r'<a href="/payments/(pay_[a-z2-7]{26})">', found) == made[::-1]
    assert found.count('<td class="money">15.00 EUR</td>') == 3
    status, _, timeline = get(port, f"/payments/{made[0]}", cookie)
    assert status == 200 and "payment.succeeded" in timeline and merchant in timeline
    assert '<table id="s3-objects">' in timeline and f"/{made[0]}/0002-payment.succeeded.json" in timeline
    assert get(port, "/payments?amount_min=1.5", cookie)[0] == 400
    assert get(port, "/payments/pay_" + "a" * 26, cookie)[0] == 404

    # The deployment as this machine made it: the stack preflight passed before the deploy passes now.
    status, _, described = get(port, "/deployment", cookie)
    count = re.search(r'<dd id="resource-count">(\d+)</dd>', described)
    assert status == 200 and count and int(count.group(1)) > 50
    assert re.search(r'<dd id="preflight">0 error\(s\)', described), described[-3000:]
    assert str(alpha["outputs"]["admin_function_name"]) in described and "aws_lambda_function" in described

    # Bound to 127.0.0.1 and nothing else.
    listening = {c.laddr for c in psutil.Process(process.pid).net_connections() if c.status == psutil.CONN_LISTEN}
    assert {address.ip for address in listening} == {"127.0.0.1"}, listening
    # Another loopback address reaches the socket only if it listened on more than 127.0.0.1.
    with pytest.raises(ConnectionRefusedError):
        http.client.HTTPConnection("127.0.0.2", port, timeout=5).connect()


def post(port: int, path: str, cookie: str, form: dict[str, str], origin: str | None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    if origin is not None:
        headers["Origin"] = origin
    conn.request("POST", path, body=urlencode(form), headers=headers)
    response = conn.getresponse()
    body = response.read().decode()
    conn.close()
    return response.status, body


def test_a_key_made_in_the_console_pays_and_is_revoked_there_with_the_operator_in_the_audit_log(
    cli: Cli, alpha: DeploymentRecord, console: tuple[subprocess.Popen[str], str]
) -> None:
    _, url = console
    port = int(urlsplit(url).port or 0)
    cookie = SESSION[0]
    origin = f"http://127.0.0.1:{port}"
    csrf = re.search(r'name="csrf" value="([^"]+)"', get(port, "/keys", cookie)[2])
    assert csrf
    merchant = f"merch_ckey_{uuid.uuid4().hex[:8]}"
    assert (
        post(port, "/keys", cookie, {"merchant_id": merchant, "csrf": csrf.group(1)}, "http://evil.example")[0] == 403
    )
    status, page = post(port, "/keys", cookie, {"merchant_id": merchant, "csrf": csrf.group(1)}, origin)
    assert status == 201, page[-2000:]
    secret = re.search(r'id="secret" class="secret" readonly value="(sk_test_[0-9A-Za-z]{43})"', page)
    key_id = re.search(r"Key (key_[a-z2-7]{26}) created", page)
    assert secret and key_id
    assert secret.group(1) not in get(port, "/keys", cookie)[2], "the secret is shown once"

    api = Client(str(alpha["api"]["url"]))
    assert api.call("POST", "/payments", secret=secret.group(1), key=str(uuid.uuid4()), body=pay(700))[0] == 201

    status, page = post(port, f"/keys/{key_id.group(1)}/revoke", cookie, {"csrf": csrf.group(1)}, origin)
    assert status == 200 and f"Key {key_id.group(1)} revoked" in page
    listed = json.loads(cli.run("keys", "list", "--suffix", "alpha", "--format", "json").stdout)
    assert next(k for k in listed if k["id"] == key_id.group(1))["revoked_at"] is not None
    audit = json.loads(cli.run("audit", "--suffix", "alpha", "--limit", "50", "--format", "json").stdout)
    mine = [(e["action"], e["outcome"]) for e in audit if e.get("target") == key_id.group(1)]
    assert ("create_key", "ok") in mine and ("revoke_key", "ok") in mine, mine
    actors = {e["actor"] for e in audit if e.get("target") == key_id.group(1)}
    assert all(actor.startswith("local:") for actor in actors), actors
