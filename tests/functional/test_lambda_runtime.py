"""The built zip runs on CPython 3.12 (the Lambda runtime) against the real PostgreSQL and moto.

The zip is unpacked as Lambda unpacks it into /var/task and the handler is imported from there by a
separate python3.12 process with the function's environment: nothing from this checkout or venv.
"""

from __future__ import annotations

import json
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from payments_cli.local.lambda_runtime.interpreter import find_python
from payments_infra.lambda_build import LambdaPackage
from tests.conftest import Services
from tests.support import payment_body, post_payment, proxy_event

pytestmark = pytest.mark.functional

_SCRIPT = """
import json, sys
from payment_processor.handler import handler
for event in json.loads(sys.stdin.read()):
    print("RESULT " + json.dumps(handler(event, None)))
"""


def test_zip_handler_takes_a_payment_on_python_312(lambda_zip: LambdaPackage, clean: Services, tmp_path: Path) -> None:
    task = tmp_path / "var-task"
    zipfile.ZipFile(lambda_zip.path).extractall(task)
    events = [
        post_payment(payment_body(), key="zip-1"),
        post_payment(payment_body(payment_method="tok_chargeDeclinedProcessingError"), key="zip-2"),
        proxy_event("GET", "/payments/pay_" + "a" * 26),
    ]
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(task), "PYTHONNOUSERSITE": "1", **clean.env()}
    result = subprocess.run(
        [str(find_python("3.12")), "-s", "-c", _SCRIPT],
        input=json.dumps(events),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=task,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    responses = [json.loads(line[7:]) for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert [r["statusCode"] for r in responses] == [201, 402, 404]
    with clean.admin() as conn:
        assert conn.execute("SELECT count(*) FROM payments").fetchone() == (2,)
