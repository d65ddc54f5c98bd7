"""Cold start benchmark: the handler imported from the built zip, without and with its .pyc, side by side.

As on Lambda: the zip is extracted into a folder made read-only, the interpreter is the function's
runtime (CPython 3.12), PYTHONDONTWRITEBYTECODE=1, one fresh process per sample. Two trees are measured
in alternation so drift on the machine hits both alike:
- before: the zip with every .pyc stripped (each cold start compiles what it imports, the old package);
- after:  the zip as built (hash-based .pyc compiled by CPython 3.12, imports deferred to first use).
Each process times ``import payment_processor.handler``, then its first request (a POST /payments against a
real PostgreSQL and moto's Secrets Manager and S3 on 127.0.0.1, so it pays for the deferred imports, the
clients, the secret and the connection), then a second request (GET of that payment) for reference.
Also printed: the top ten modules by cumulative import time (``-X importtime``) of both trees.

Run: make bench-cold-start   (or .venv/bin/python bench/cold_start_bench.py --runs 15)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from payments_cli.local.emulator import EMULATOR_CREDENTIALS, MotoServer
from payments_cli.local.postgres import LocalPostgres
from payments_cli.local.runtime import find_python
from payments_cli.local.standalone import provision
from payments_infra.lambda_build import LAMBDA_PYTHON, build_lambda_package
from payments_infra.synth import default_package_path

BUCKET = "bench-cold-start"
#: The issue's goals, in ms.
IMPORT_GOAL_MS = 250.0
FIRST_REQUEST_GOAL_MS = 100.0
#: Modules the handler's import should leave to the first request (Powertools imports the bare botocore
#: package itself, ~1 ms, to tag SDK calls; botocore's session and clients are what cost).
DEFERRED = ("boto3", "botocore.session", "psycopg", "pydantic")

# Runs inside the measured interpreter: time the import, then the first and a second request.
CHILD = r"""
import json, sys, time, uuid
start = time.perf_counter()
import payment_processor.handler as h
imported = time.perf_counter()
deferred = sorted(m for m in sys.argv[1].split(",") if m in sys.modules)

class Context:
    aws_request_id = "cold-start-bench"
    def get_remaining_time_in_millis(self):
        return 15000

authorizer = {"merchant_id": "merch_bench", "key_id": "key_bench", "read_only": "false"}
key = str(uuid.uuid4())
post = {
    "resource": "/payments", "path": "/payments", "httpMethod": "POST",
    "headers": {"Idempotency-Key": key, "Content-Type": "application/json"},
    "requestContext": {"requestId": key, "authorizer": authorizer},
    "body": json.dumps({"amount": 1999, "currency": "USD", "payment_method": "tok_visa"}),
    "isBase64Encoded": False,
}
first = h.handler(post, Context())
answered = time.perf_counter()
payment_id = json.loads(first["body"])["id"]
get = {
    "resource": "/payments/{id}", "path": "/payments/" + payment_id, "httpMethod": "GET",
    "headers": {}, "pathParameters": {"id": payment_id},
    "requestContext": {"requestId": key + "-get", "authorizer": authorizer}, "body": None, "isBase64Encoded": False,
}
second = h.handler(get, Context())
done = time.perf_counter()
print("RESULT " + json.dumps({
    "import_ms": (imported - start) * 1000, "first_ms": (answered - imported) * 1000,
    "second_ms": (done - answered) * 1000, "statuses": [first["statusCode"], second["statusCode"]],
    "loaded_at_import": deferred,
}))
"""


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def extract(package: Path, into: Path, *, with_pyc: bool) -> Path:
    """Extract the zip (optionally without its bytecode) and make the tree read-only, as /var/task is."""
    with zipfile.ZipFile(package) as archive:
        for name in archive.namelist():
            if with_pyc or not name.endswith(".pyc"):
                archive.extract(name, into)
    subprocess.run(["chmod", "-R", "a-w", str(into)], check=True)
    return into


def lambda_env(task: Path, extra: dict[str, str]) -> dict[str, str]:
    """The function's environment: its settings, /var/task on the path, no bytecode written."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ")}
    return {**keep, **extra, "PYTHONPATH": str(task), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}


def sample(python: Path, task: Path, env: dict[str, str]) -> dict[str, Any]:
    """One fresh process: import, first request, second request."""
    out = subprocess.run(
        [str(python), "-c", CHILD, ",".join(DEFERRED)],
        cwd=task,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"the measured process failed ({out.returncode}):\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return result


def import_profile(python: Path, task: Path, env: dict[str, str], top: int = 10) -> list[tuple[str, float, float]]:
    """The ``top`` modules by cumulative import time (ms): (module, cumulative, self)."""
    out = subprocess.run(
        [str(python), "-X", "importtime", "-c", "import payment_processor.handler"],
        cwd=task, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, module = line[len("import time:") :].split("|")
        rows.append((module.strip(), int(cumulative) / 1000, int(own) / 1000))
    return sorted(rows, key=lambda r: -r[1])[:top]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="fresh processes per side (default 15)")
    parser.add_argument("--zip", type=Path, default=None, help="package to build or reuse (default build/lambda/)")
    parser.add_argument(
        "--original-zip",
        type=Path,
        default=None,
        help="also measure an older package (e.g. one built before the imports were deferred), .pyc stripped",
    )
    args = parser.parse_args()

    python = find_python(LAMBDA_PYTHON)
    package = build_lambda_package(args.zip or default_package_path(), reuse=True)
    os.environ.update(EMULATOR_CREDENTIALS)
    sources = {"before": (package.path, False), "after": (package.path, True)}
    if args.original_zip:
        sources = {"original": (args.original_zip, False), **sources}
    samples: dict[str, list[dict[str, Any]]] = {side: [] for side in sources}
    with tempfile.TemporaryDirectory(prefix="payments-cold-start-") as folder:
        trees = {side: extract(zip_, Path(folder) / side, with_pyc=pyc) for side, (zip_, pyc) in sources.items()}
        postgres = LocalPostgres(Path(folder) / "pg")
        moto = MotoServer()
        postgres.init()
        postgres.start()
        moto.start()
        try:
            world = provision(postgres, moto.endpoint, dbname="payments", bucket=BUCKET, name="cold")
            envs = {side: lambda_env(tree, world.processor_env) for side, tree in trees.items()}
            files = {side: sum(1 for _ in tree.rglob("*")) for side, tree in trees.items()}
            profiles = {side: import_profile(python, trees[side], envs[side]) for side in trees}
            for _ in range(args.runs):
                for side in trees:
                    samples[side].append(sample(python, trees[side], envs[side]))
            for side, tree in trees.items():
                assert sum(1 for _ in tree.rglob("*")) == files[side], f"{side}: something was written into the tree"
        finally:
            moto.stop()
            postgres.stop()
            for tree in trees.values():
                subprocess.run(["chmod", "-R", "u+w", str(tree)], check=False)

    def stat(side: str, field: str, fn: str) -> float:
        values = [float(s[field]) if field != "total" else s["import_ms"] + s["first_ms"] for s in samples[side]]
        return statistics.median(values) if fn == "p50" else percentile(values, 90)

    sides = list(trees)
    print(f"\nCold start from {package.path.name} ({package.size / 1e6:.1f} MB), CPython {LAMBDA_PYTHON} ({python}),")
    print(f"read-only tree, PYTHONDONTWRITEBYTECODE=1, {args.runs} fresh processes per side, alternating")
    print(
        "before = the same zip with its .pyc stripped"
        + ("; original = --original-zip, .pyc stripped" if "original" in trees else "")
    )
    ratios = [f"after/{side}" for side in sides[:-1]]
    print(f"{'':34}" + "".join(f" {side:>9}" for side in sides) + "".join(f" {r:>15}" for r in ratios) + "  goal")
    for label, field, fn, goal in (
        ("import handler, median ms", "import_ms", "p50", IMPORT_GOAL_MS),
        ("import handler, p90 ms", "import_ms", "p90", None),
        ("first request (POST), median ms", "first_ms", "p50", FIRST_REQUEST_GOAL_MS),
        ("first request (POST), p90 ms", "first_ms", "p90", None),
        ("import + first request, median ms", "total", "p50", None),
        ("second request (GET), median ms", "second_ms", "p50", None),
    ):
        values = [stat(side, field, fn) for side in sides]
        verdict = "" if goal is None else f"  <= {goal:.0f} {'ok' if values[-1] <= goal else 'MISSED'}"
        print(
            f"{label:34}"
            + "".join(f" {v:9.1f}" for v in values)
            + "".join(f" {values[-1] / v:15.2f}" for v in values[:-1])
            + verdict
        )
    for side in sides:
        loaded = sorted({m for s in samples[side] for m in s["loaded_at_import"]})
        print(f"{side}: loaded by the import itself: {', '.join(loaded) or 'none of ' + ', '.join(DEFERRED)}")

    print("\nTop 10 modules by cumulative import time (-X importtime, one process each), ms")
    for side in sides:
        print(f"\n{side:>44} {'cumulative':>11} {'self':>8}")
        for module, cumulative, own in profiles[side]:
            print(f"{module[:44]:>44} {cumulative:11.1f} {own:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
