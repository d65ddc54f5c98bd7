"""The local target runs the deployment's schedule as EventBridge would: `payments serve` runs the scheduled
job (deliver) from the zip, against the deployment's database and emulator, and says so in its log."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from payments_cli.local.ports import free_port
from payments_cli.local.records import DeploymentRecord
from tests.local_target import Cli

pytestmark = [pytest.mark.emulator, pytest.mark.timeout(900)]


def test_payments_serve_runs_the_deployments_scheduled_job(cli: Cli, alpha: DeploymentRecord) -> None:
    deliver = next(str(n) for n in alpha["outputs"]["function_names"] if "-reconcile-" in str(n))
    env = {**cli.env}
    env.pop("PAYMENTS_LOCAL_SCHEDULES")  # the session's own server runs without them
    process = subprocess.Popen(
        cli.command("serve", "--env", "dev", "--suffix", "alpha", "--port", str(free_port())),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            if not line:
                break
            lines.append(line.rstrip())
            if re.match(rf"schedule \S+ -> {re.escape(deliver)}: ", line):
                break
    finally:
        process.terminate()
        process.wait(timeout=30)
    text = "\n".join(lines)
    assert f"every 60s (rate(1 minute)) -> {deliver}" in text, text
    assert re.search(rf"schedule \S+ -> {re.escape(deliver)}: ok \(\d+\.\d+s\)", text), text
