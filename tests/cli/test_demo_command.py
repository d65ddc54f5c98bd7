"""`payments demo` (`make demo`): one payment through the real processor on a throwaway PostgreSQL and moto server.

Run as the user runs it, the real command in a process of its own; it starts and stops everything itself. Its own
checks are what it prints (exit 0 only when every step answered as expected): this test holds it to them, so a demo
that says FAILED, as it did when it expected fewer transaction-log objects than the processor now writes, fails here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def test_the_demo_takes_a_payment_its_replay_a_decline_and_a_read_and_says_ok(tmp_path: Path) -> None:
    env = {**os.environ, "PAYMENTS_STATE_DIR": str(tmp_path / "state"), "TMPDIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "payments_cli.main", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[-1] == "demo: OK"
    assert "POST /payments (no API key): 401 authentication_required" in lines
    paid = next(line for line in lines if line.startswith("POST /payments: 201 "))
    payment_id = paid.split()[3]
    assert paid.endswith("succeeded 2500 EUR") and re.fullmatch(r"pay_[a-z0-9]{26}", payment_id)
    assert f"POST /payments (retry, same key): 201 (replayed) {payment_id} succeeded 2500 EUR" in lines
    assert any(line.startswith("POST /payments (declined card): 402 ") for line in lines)
    assert f"GET /payments/{payment_id}: 200" in lines
    assert not list(tmp_path.glob("payments-demo-*")), "its throwaway folder is removed"
    assert "sk_test_" not in done.stdout.replace("sk_test_...", ""), "the key's secret is never printed whole"
