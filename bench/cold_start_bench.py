"""Cold start benchmark: the handler imported from the built zip, without and with its .pyc, side by side.

As on Lambda: the zip is extracted into a folder made read-only, the interpreter is the function's
runtime (CPython 3.12), PYTHONDONTWRITEBYTECODE=1, one fresh process per sample. Two trees are measured
in alternation so drift on the machine hits both alike:
- before: the zip with every .pyc stripped (each cold start compiles what it imports, the old package);
- after:  the zip as built (hash-based .pyc compiled by CPython 3.12, imports deferred to first use);
- eager:  the zip as built, with everything the first request loads (the driver, the SDK session and both
          clients, the validation models) loaded at import instead, as an init phase that prepares it all would.
          Not how the handler runs: it shows that moving the work between the two goals cannot meet both.
Each process times ``import payment_processor.handler``, then its first request (a POST /payments against a
real PostgreSQL and moto's Secrets Manager and S3 on 127.0.0.1, so it pays for the deferred imports, the
clients, the secret and the connection), then a second request (GET of that payment) for reference.
Also printed: the top ten modules by cumulative import time (``-X importtime``) of both trees.

``--profile`` prints instead where the first request's time goes, in the same setting (the zip as built):
its phases (wall clock, median of ``--runs`` fresh processes, each with the part spent importing), the
modules it imports (``-X importtime``, cumulative top 15) and a cProfile of it (cumulative top 25).

Run: make bench-cold-start   (or .venv/bin/python bench/cold_start_bench.py --runs 15)
     .venv/bin/python bench/cold_start_bench.py --profile --runs 7
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
from payments_cli.local.lambda_runtime.interpreter import find_python
from payments_cli.local.postgres import LocalPostgres
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
#: The side that loads at import what the first request would (see the module's docstring).
EAGER = "eager"

# Runs inside the measured interpreter: time the import, then the first and a second request.
CHILD = r"""
import json, os, sys, time, uuid
start = time.perf_counter()
import payment_processor.handler as h
if os.environ.get("BENCH_EAGER"):
    with h._first_load():
        h._get_service()
        import payment_processor.validation
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


# --profile: runs inside the measured interpreter too. The handler is imported untimed, then the first request
# (the same POST as CHILD) is measured one way per process: "phases" wraps the functions the first request goes
# through with wall-clock timers (and builtins.__import__, to say how much of each phase is imports), "importtime"
# marks on stderr where the request starts (run under -X importtime), "cprofile" runs it under cProfile.
PROFILE_CHILD = r"""
import builtins, json, sys, time, uuid
mode = sys.argv[1]
import payment_processor.handler as h
from payment_processor import api, aws, credentials, service, txlog

class Context:
    aws_request_id = "cold-start-bench"
    def get_remaining_time_in_millis(self):
        return 15000

key = str(uuid.uuid4())
post = {
    "resource": "/payments", "path": "/payments", "httpMethod": "POST",
    "headers": {"Idempotency-Key": key, "Content-Type": "application/json"},
    "requestContext": {"requestId": key, "authorizer": {"merchant_id": "merch_bench", "key_id": "key_bench",
                                                        "read_only": "false"}},
    "body": json.dumps({"amount": 1999, "currency": "USD", "payment_method": "tok_visa"}),
    "isBase64Encoded": False,
}
totals, imports, order, stack = {}, {}, [], []

def timed(label, fn, name=None):
    def wrapper(*args, **kwargs):
        tag = label(*args, **kwargs) if callable(label) else label
        if tag not in totals:
            totals[tag] = imports[tag] = 0.0
            order.append((len(stack), tag))
        stack.append(tag)
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[tag] += time.perf_counter() - start
            stack.pop()
    return wrapper

def patch(owner, name, label):
    if hasattr(owner, name):
        setattr(owner, name, timed(label, getattr(owner, name)))

if mode == "phases":
    real_import, depth = builtins.__import__, [0]
    def counted_import(*args, **kwargs):
        if depth[0] or not stack:
            return real_import(*args, **kwargs)
        depth[0] += 1
        start = time.perf_counter()
        try:
            return real_import(*args, **kwargs)
        finally:
            depth[0] -= 1
            for tag in set(stack):
                imports[tag] += time.perf_counter() - start
    builtins.__import__ = counted_import
    gc_ms, gc_count, gc_started = [0.0, 0.0, 0.0], [0, 0, 0], [0.0]
    def gc_timer(phase, info):
        if phase == "start":
            gc_started[0] = time.perf_counter()
        elif stack:
            gc_ms[info["generation"]] += (time.perf_counter() - gc_started[0]) * 1000
            gc_count[info["generation"]] += 1
    import gc
    gc.callbacks.append(gc_timer)
    h.handler = timed("first request", h.handler)
    def import_driver():
        import payment_processor.store.database, payment_processor.store.postgres
    import_driver = timed("driver import (psycopg)", import_driver)
    real_build_service = h.build_service
    def build_service(*args, **kwargs):
        import_driver()
        return real_build_service(*args, **kwargs)
    h.build_service = timed("wiring: build_service", build_service)
    for owner in (h, aws):
        patch(owner, "client", lambda service, *a, **k: "client(" + service + ")")
        patch(owner, "new_session", "SDK session")
    patch(api.Api, "handle", "Api.handle")
    patch(api, "read_json_body", "body: read_json_body")
    patch(credentials.SecretsManagerSecret, "_fetch", "secret fetch (Secrets Manager call)")
    patch(service.PaymentService, "create_payment", "create_payment (transaction, acquirer, delivery)")
    patch(service.PaymentService, "_deliver", "delivery to S3 (outbox)")
    patch(txlog.S3Sink, "put", "S3 put_object")
    real_build = h.build_service
    def build_then_patch(*args, **kwargs):
        result = real_build(*args, **kwargs)
        from payment_processor.store import database
        patch(database.Database, "_open", "DB connect (secret, TCP, TLS, auth)")
        return result
    h.build_service = build_then_patch
    def import_validation():
        import payment_processor.validation
    import_validation = timed("validation import (pydantic)", import_validation)
    real_create = api.Api._create
    def create(*args, **kwargs):
        import_validation()
        return real_create(*args, **kwargs)
    api.Api._create = create
    answer = h.handler(post, Context())
    phases = [[level, tag, totals[tag] * 1000, imports[tag] * 1000] for level, tag in order]
    phases += [[0, "garbage collection, generation %d (%d runs)" % (g, gc_count[g]), gc_ms[g], 0.0] for g in (0, 1, 2)]
    print("PHASES " + json.dumps({"status": answer["statusCode"], "phases": phases}))
elif mode == "importtime":
    sys.stderr.write("FIRST-REQUEST-STARTS\n")
    sys.stderr.flush()
    print("STATUS", h.handler(post, Context())["statusCode"])
else:
    import cProfile, pstats
    profile = cProfile.Profile()
    profile.enable()
    answer = h.handler(post, Context())
    profile.disable()
    print("STATUS", answer["statusCode"])
    pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(25)
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
    return {
        **keep,
        **extra,
        "AWS_LAMBDA_FUNCTION_NAME": "payment-processor-bench",  # as the Lambda runtime sets it
        "PYTHONPATH": str(task),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
    }


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
        cwd=task,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    rows = []
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, cumulative, module = line[len("import time:") :].split("|")
        rows.append((module.strip(), int(cumulative) / 1000, int(own) / 1000))
    return sorted(rows, key=lambda r: -r[1])[:top]


def child_output(python: Path, task: Path, env: dict[str, str], mode: str, *flags: str) -> tuple[str, str]:
    """Run PROFILE_CHILD in ``mode`` in a fresh process; its stdout and stderr."""
    out = subprocess.run(
        [str(python), *flags, "-c", PROFILE_CHILD, mode],
        cwd=task,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"the profiled process failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return out.stdout, out.stderr


def profile_first_request(python: Path, task: Path, env: dict[str, str], runs: int) -> None:
    """Print where the first request's time goes: phases (median of ``runs`` processes), imports, cProfile."""
    samples = []
    for _ in range(runs):
        stdout, _ = child_output(python, task, env, "phases")
        line = next(line for line in stdout.splitlines() if line.startswith("PHASES "))
        samples.append(json.loads(line[len("PHASES ") :]))
    print(f"\nFirst request (POST /payments), phases: wall clock, median of {runs} fresh processes, ms")
    print(f"{'phase (nested phases are part of their parent)':60} {'total':>8} {'imports':>8} {'p90':>8}")
    for index, (level, tag, _, _) in enumerate(samples[0]["phases"]):
        values = [s["phases"][index] for s in samples if len(s["phases"]) > index]
        totals = [v[2] for v in values]
        print(
            f"{'  ' * level + tag:60} {statistics.median(totals):8.1f} "
            f"{statistics.median(v[3] for v in values):8.1f} {percentile(totals, 90):8.1f}"
        )

    _, stderr = child_output(python, task, env, "importtime", "-X", "importtime")
    rows = []
    for line in stderr.split("FIRST-REQUEST-STARTS", 1)[1].splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            own, cumulative, module = line[len("import time:") :].split("|")
            rows.append((module.rstrip(), int(cumulative) / 1000, int(own) / 1000))
    outermost = sum(c for m, c, _ in rows if len(m) - len(m.lstrip()) == 1)
    print(
        f"\nModules imported by the first request (-X importtime, one process; it inflates the times): "
        f"{len(rows)} modules, {outermost:.1f} ms in all. Top 15 by cumulative ms"
    )
    print(f"{'module':>52} {'cumulative':>11} {'self':>8}")
    for module, cumulative, own in sorted(rows, key=lambda r: -r[1])[:15]:
        print(f"{module[:52]:>52} {cumulative:11.1f} {own:8.1f}")

    stdout, _ = child_output(python, task, env, "cprofile")
    print("\nFirst request under cProfile (one process; it inflates the times), cumulative top 25")
    print("\n".join(line for line in stdout.splitlines() if not line.startswith("{")))


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
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of the side-by-side table: where the first request's time goes (phases over --runs "
        "processes, -X importtime, cProfile), zip as built",
    )
    args = parser.parse_args()

    python = find_python(LAMBDA_PYTHON)
    package = build_lambda_package(args.zip or default_package_path(), reuse=True)
    os.environ.update(EMULATOR_CREDENTIALS)
    sources = {"before": (package.path, False), "after": (package.path, True), EAGER: (package.path, True)}
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
            envs[EAGER]["BENCH_EAGER"] = "1"
            if args.profile:
                profile_first_request(python, trees["after"], envs["after"], args.runs)
                return 0
            files = {side: sum(1 for _ in tree.rglob("*")) for side, tree in trees.items()}
            profiles = {side: import_profile(python, trees[side], envs[side]) for side in trees if side != EAGER}
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

    sides = [side for side in trees if side != EAGER]  # the last of these is "after", the zip as built
    print(f"\nCold start from {package.path.name} ({package.size / 1e6:.1f} MB), CPython {LAMBDA_PYTHON} ({python}),")
    print(f"read-only tree, PYTHONDONTWRITEBYTECODE=1, {args.runs} fresh processes per side, alternating")
    print(
        "before = the same zip with its .pyc stripped"
        + ("; original = --original-zip, .pyc stripped" if "original" in trees else "")
        + f"; {EAGER} = as built, the first request's loading done at import (not how it runs)"
    )
    ratios = [f"after/{side}" for side in sides[:-1]]
    print(
        f"{'':34}"
        + "".join(f" {side:>9}" for side in sides)
        + "".join(f" {r:>15}" for r in ratios)
        + f" {EAGER:>9}  goal (after; {EAGER})"
    )
    for label, field, fn, goal in (
        ("import handler, median ms", "import_ms", "p50", IMPORT_GOAL_MS),
        ("import handler, p90 ms", "import_ms", "p90", None),
        ("first request (POST), median ms", "first_ms", "p50", FIRST_REQUEST_GOAL_MS),
        ("first request (POST), p90 ms", "first_ms", "p90", None),
        ("import + first request, median ms", "total", "p50", None),
        ("second request (GET), median ms", "second_ms", "p50", None),
    ):
        values = [stat(side, field, fn) for side in sides]
        eager = stat(EAGER, field, fn)

        def verdict(value: float, goal: float) -> str:
            return "ok" if value <= goal else "MISSED"

        print(
            f"{label:34}"
            + "".join(f" {v:9.1f}" for v in values)
            + "".join(f" {values[-1] / v:15.2f}" for v in values[:-1])
            + f" {eager:9.1f}"
            + ("" if goal is None else f"  <= {goal:.0f} {verdict(values[-1], goal)}; {verdict(eager, goal)}")
        )
    for side in sides:
        loaded = sorted({m for s in samples[side] for m in s["loaded_at_import"]})
        print(f"{side}: loaded by the import itself: {', '.join(loaded) or 'none of ' + ', '.join(DEFERRED)}")
    print(
        f"the two goals together allow {IMPORT_GOAL_MS + FIRST_REQUEST_GOAL_MS:.0f} ms for import + first request; "
        f"measured: after {stat('after', 'total', 'p50'):.0f} ms, {EAGER} {stat(EAGER, 'total', 'p50'):.0f} ms"
    )

    print("\nTop 10 modules by cumulative import time (-X importtime, one process each), ms")
    for side in sides:
        print(f"\n{side:>44} {'cumulative':>11} {'self':>8}")
        for module, cumulative, own in profiles[side]:
            print(f"{module[:44]:>44} {cumulative:11.1f} {own:8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
