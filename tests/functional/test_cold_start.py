"""Cold start: the handler imports from the zip as Lambda runs it, and defers what can wait.

The zip is unpacked into a read-only folder (Lambda's /var/task is read-only) and imported by a fresh
CPython 3.12 with PYTHONDONTWRITEBYTECODE=1: the shipped .pyc are used as they are, nothing is written,
and botocore's session, psycopg and pydantic are loaded by the first request that needs them, not by the
import (bench/cold_start_bench.py measures what that saves); boto3 (and s3transfer) not at all: the clients
are botocore's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from payments_cli.local.lambda_runtime.interpreter import find_python
from payments_infra.lambda_build import SDK_SERVICES, LambdaPackage
from tests.conftest import Services
from tests.support import payment_body, post_payment

#: Loaded on first use only. (Powertools imports the bare ``botocore`` package, ~1 ms, to tag SDK calls.)
DEFERRED = ("botocore.session", "botocore.client", "psycopg", "pydantic", "payment_processor.validation")
#: Never loaded by the processor: its clients are botocore's, so boto3's import (and s3transfer's) is not paid.
UNUSED = ("boto3", "s3transfer")

_SCRIPT = """
import json, sys
import payment_processor.handler as h
print("LOADED " + json.dumps(sorted(m for m in sys.argv[1].split(",") if m in sys.modules)))
for event in json.loads(sys.stdin.read()):
    print("RESULT " + json.dumps(h.handler(event, None)))
print("LOADED " + json.dumps(sorted(m for m in sys.argv[1].split(",") if m in sys.modules)))
"""


@pytest.fixture
def read_only_task(lambda_zip: LambdaPackage, tmp_path: Path) -> Path:
    """The zip extracted as Lambda extracts it, then made read-only."""
    task = tmp_path / "var-task"
    zipfile.ZipFile(lambda_zip.path).extractall(task)
    subprocess.run(["chmod", "-R", "a-w", str(task)], check=True)
    return task


def _run(task: Path, events: list[dict[str, object]], env: dict[str, str]) -> tuple[list[list[str]], list[int]]:
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(task),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        **env,
    }
    result = subprocess.run(
        [str(find_python("3.12")), "-s", "-c", _SCRIPT, ",".join(DEFERRED + UNUSED)],
        input=json.dumps(events),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=task,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    loaded = [json.loads(line[7:]) for line in lines if line.startswith("LOADED ")]
    statuses = [json.loads(line[7:])["statusCode"] for line in lines if line.startswith("RESULT ")]
    return loaded, statuses


def _tree(task: Path) -> set[Path]:
    return set(task.rglob("*"))


def test_the_import_loads_no_sdk_driver_or_validation_and_writes_nothing(read_only_task: Path) -> None:
    before = _tree(read_only_task)
    loaded, _ = _run(read_only_task, [], {})
    assert loaded == [[], []]
    assert _tree(read_only_task) == before


@pytest.mark.functional
def test_the_first_request_loads_what_it_needs_and_is_served(read_only_task: Path, clean: Services) -> None:
    before = _tree(read_only_task)
    loaded, statuses = _run(read_only_task, [post_payment(payment_body(), key="cold-1")], clean.env())
    assert statuses == [201]
    assert loaded[0] == []
    assert set(loaded[1]) == set(DEFERRED)
    assert _tree(read_only_task) == before


def test_the_zip_carries_botocore_data_for_the_services_in_use_only(lambda_zip: LambdaPackage) -> None:
    """Every other service's folder is left out (the first client would list them all); botocore's
    top-level data (endpoints, partitions) and the kept services' files are there."""
    names = zipfile.ZipFile(lambda_zip.path).namelist()
    services = {n.split("/")[2] for n in names if n.startswith("botocore/data/") and n.count("/") > 2}
    assert services == set(SDK_SERVICES)
    assert "botocore/data/endpoints.json" in names
    assert any(n.startswith("botocore/data/s3/") and "/service-2.json" in n for n in names)


def test_every_service_the_processor_calls_is_in_the_zip() -> None:
    """A client for a service whose data the zip lacks would fail on Lambda only: none is asked for."""
    source = Path(__file__).resolve().parents[2] / "src" / "payment_processor"
    called = {
        match
        for path in source.rglob("*.py")
        for match in re.findall(r"""\bclient\(\s*["']([a-z0-9-]+)["']""", path.read_text())
    }
    assert called == {"kms", "s3", "secretsmanager", "sqs"}
    assert called <= set(SDK_SERVICES)
