"""A deployment's whole local lifecycle against issue 12's goals, its guarantees, and its critical path.

The real `payments` command (.venv/bin/payments), real terraform, a real PostgreSQL and the moto server,
all started by the commands themselves in a throwaway state folder (PAYMENTS_STATE_DIR is a new
tempfile.mkdtemp() for every run of this bench, so the checkout's .payments/ is never touched). A new
suffix (``bench`` and four random letters) is taken through, each step a fresh process timed on the wall
clock (time.monotonic(), spawn to exit):
1. `payments up --suffix S`             from zero: emulator and PostgreSQL started, everything created; goal
                                        <= 150 s
2. `payments up --suffix S` again       nothing changed; median of --runs re-runs; goal <= 15 s
3. `payments down --suffix S --destroy` everything destroyed; goal <= 90 s

Guarantees, checked (any failure: exit status 1): each step exits 0; every re-run's stderr says
"0 to add, 0 to change, 0 to destroy" exactly twice (bootstrap and platform: real terraform proved no change
against the emulator); after step 3, nothing of the suffix is left in the emulator (S3 buckets, Lambda
functions, REST APIs, RDS instances, IAM roles and policies, log groups, KMS aliases, security groups,
EventBridge rules, secrets, WAF web ACLs, VPCs tagged with the suffix: the checks of
tests/emulator/test_local_target.py), nor its database or roles in PostgreSQL, nor its state folder.

`down --destroy` stops the emulator and PostgreSQL itself once no deployment is served, and moto keeps
its resources in memory, so the emulator is checked while step 3 runs: the bench holds the state folder's
services lock (the one `payments` commands take to start or stop services) for all of step 3, so the command
destroys, prints "destroyed dev/S" and then waits at that lock; the bench checks the emulator, releases the
lock, and the command stops the services and exits. The seconds from that line to the release (the check)
are printed and not counted in step 3's time.

Critical path: every stderr line of a step is timestamped as it arrives. Per step, its phases (each
"==> ..." line to the next, with the summaries the command prints under it) with their start offset and
duration, and the five slowest resources (terraform's own per-resource seconds) with their action and
when they started and ended.

Run: make bench-lifecycle   (or .venv/bin/python bench/lifecycle_bench.py --runs 3; ~4 minutes with one
re-run on 2 cores; --log-dir DIR keeps every step's timestamped stderr)
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import random
import re
import shutil
import signal
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from payments_cli.local.emulator import emulator_client
from payments_infra.lambda_build import inputs_digest, repo_root
from payments_infra.terraform import find_terraform, terraform_env

ROOT = Path(__file__).resolve().parent.parent
PYTHON = Path(sys.executable)
PAYMENTS = PYTHON.with_name("payments")
ENVIRONMENT = "dev"
#: Issue 12's goals, in seconds.
UP_GOAL_S = 150.0
RERUN_GOAL_S = 15.0
DESTROY_GOAL_S = 90.0
#: What a no-change run must print, once for the bootstrap stack and once for the platform's.
ZERO = "0 to add, 0 to change, 0 to destroy"
ZERO_COUNT = 2
#: Generous: a step that takes this long has hung (it is then killed and counted as failed).
STEP_TIMEOUT_S = 900.0
#: `payments down --destroy` takes this lock (StateFolder.lock()) to stop the emulator and PostgreSQL.
SERVICES_LOCK = ".services.lock"
TOP = 5
PACKAGE_MOVED = (
    "src/payment_processor or requirements/lambda.txt changed after step 1 started: the re-run had a real "
    "change to deploy (a new Lambda package), so its time and its changes are not a no-change run's"
)
#: How long the command may wait at the held lock without having said the destroy is done.
GUARD_S = 10.0

PROGRESS = re.compile(r"^\s*\[\s*(\d+)/(\d+)\]\s+(\S+)\s+(\S+)\s+\((\d+)s\)\s*$")


@dataclass(frozen=True)
class Line:
    """One stderr (or stdout) line and when it arrived, in seconds after the step's spawn."""

    at: float
    text: str


@dataclass
class Step:
    """One `payments` process, run to its end."""

    label: str
    argv: list[str]
    returncode: int = -1
    wall: float = 0.0
    stderr: list[Line] = field(default_factory=list)
    stdout: list[Line] = field(default_factory=list)
    gated: float = 0.0  # seconds it was held at the services lock for the bench's check (not counted)
    inputs: str = ""  # the Lambda package's inputs digest when it started (a change there is a real change)

    @property
    def seconds(self) -> float:
        """The step's time: its wall clock, less the bench's check while it was held."""
        return self.wall - self.gated

    @property
    def error_text(self) -> str:
        return "\n".join(line.text for line in self.stderr)


@dataclass
class Check:
    """One guarantee and whether it held."""

    what: str
    ok: bool
    detail: str = ""


def state_env(state_dir: Path) -> dict[str, str]:
    """Every `payments` process of this bench: the throwaway state folder, output unbuffered (each line as it
    is printed, for the timestamps)."""
    return {**os.environ, "PAYMENTS_STATE_DIR": str(state_dir), "PYTHONUNBUFFERED": "1"}


def run_step(
    label: str,
    args: list[str],
    env: dict[str, str],
    *,
    on_stdout: Callable[[Line, Step], None] | None = None,
    timeout: float = STEP_TIMEOUT_S,
) -> Step:
    """Run `payments ARGS` in a fresh process, reading stdout and stderr line by line as they arrive."""
    step = Step(label, [str(PAYMENTS), *args], inputs=inputs_digest(repo_root()))
    started = time.monotonic()
    process = subprocess.Popen(
        step.argv,
        env=env,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        bufsize=1,
        start_new_session=True,  # its own group: a hung step is stopped with its terraform, nothing else
    )

    def read(stream: IO[str], into: list[Line], callback: Callable[[Line, Step], None] | None) -> None:
        for text in stream:
            line = Line(time.monotonic() - started, text.rstrip("\n"))
            into.append(line)
            if callback is not None:
                callback(line, step)

    assert process.stdout is not None and process.stderr is not None
    readers = [
        threading.Thread(target=read, args=(process.stdout, step.stdout, on_stdout), daemon=True),
        threading.Thread(target=read, args=(process.stderr, step.stderr, None), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        step.stderr.append(Line(time.monotonic() - started, f"bench: killed after {timeout:.0f}s"))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except BaseException:  # Ctrl-C: stop the step's own process group, then let the cleanup run
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
    step.wall = time.monotonic() - started
    step.returncode = process.returncode
    for reader in readers:
        reader.join(timeout=10)
    return step


class ServicesLock:
    """The state folder's services lock, held by the bench; released once (from any thread)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / SERVICES_LOCK
        self._handle: IO[str] | None = None
        self._guard = threading.Lock()

    def acquire(self) -> None:
        self._handle = open(self.path, "a+")  # noqa: SIM115  - held across a step, closed by release()
        fcntl.flock(self._handle, fcntl.LOCK_EX)

    def release(self) -> None:
        with self._guard:
            if self._handle is not None:
                fcntl.flock(self._handle, fcntl.LOCK_UN)
                self._handle.close()
                self._handle = None

    @property
    def held(self) -> bool:
        return self._handle is not None

    def waited_on(self) -> bool:
        """Whether another process is blocked on this lock (Linux: a "->" line of /proc/locks on its inode)."""
        inode = f":{os.stat(self.path).st_ino} "
        with contextlib.suppress(OSError):
            return any("->" in line and inode in line for line in Path("/proc/locks").read_text().splitlines())
        return False


def every(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """All items of a listing, through its paginator when the service has one."""
    if client.can_paginate(operation):
        return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page[key]]
    return list(getattr(client, operation)(**kwargs)[key])


def suffix_names(endpoint: str, suffix: str) -> list[str]:
    """Every name in the emulator that belongs to the suffix, and the VPCs tagged with it (as
    tests/emulator/test_local_target.py::test_down_destroy_leaves_nothing_of_the_suffix looks)."""

    def client(service: str) -> Any:
        return emulator_client(endpoint, service)

    named = {
        "s3": [b["Name"] for b in client("s3").list_buckets()["Buckets"]],
        "lambda": [f["FunctionName"] for f in every(client("lambda"), "list_functions", "Functions")],
        "apigateway": [a["name"] for a in every(client("apigateway"), "get_rest_apis", "items")],
        "rds": [d["DBInstanceIdentifier"] for d in every(client("rds"), "describe_db_instances", "DBInstances")],
        "iam role": [r["RoleName"] for r in every(client("iam"), "list_roles", "Roles")],
        "iam policy": [p["PolicyName"] for p in every(client("iam"), "list_policies", "Policies", Scope="Local")],
        "logs": [g["logGroupName"] for g in every(client("logs"), "describe_log_groups", "logGroups")],
        "kms alias": [a["AliasName"] for a in every(client("kms"), "list_aliases", "Aliases")],
        "security group": [g["GroupName"] for g in every(client("ec2"), "describe_security_groups", "SecurityGroups")],
        "events rule": [r["Name"] for r in every(client("events"), "list_rules", "Rules")],
        "secret": [s["Name"].replace("/", "-") for s in every(client("secretsmanager"), "list_secrets", "SecretList")],
        "waf": [a["Name"] for a in every(client("wafv2"), "list_web_acls", "WebACLs", Scope="REGIONAL")],
    }
    found = [f"{kind}: {name}" for kind, names in named.items() for name in names if f"-{suffix}" in name]
    vpcs = client("ec2").describe_vpcs(Filters=[{"Name": "tag:Deployment", "Values": [suffix]}])["Vpcs"]
    return found + [f"vpc: {v['VpcId']}" for v in vpcs]


def database_leftovers(postgres_port: int, suffix: str) -> list[str]:
    """The suffix's database and roles still in the local PostgreSQL."""
    import psycopg

    pattern = f"%{suffix}%"
    with psycopg.connect(f"host=127.0.0.1 port={postgres_port} user=postgres dbname=postgres") as conn:
        databases = [r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", [pattern])]
        roles = [r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE %s", [pattern])]
    return [f"database: {d}" for d in databases] + [f"role: {r}" for r in roles]


def status(env: dict[str, str]) -> dict[str, Any]:
    """`payments status --format json` (not timed)."""
    out = subprocess.run(
        [str(PAYMENTS), "status", "--format", "json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"payments status failed ({out.returncode}): {out.stderr[-2000:]}")
    document: dict[str, Any] = json.loads(out.stdout)
    return document


def terraform_version() -> str:
    binary = find_terraform()
    if binary is None:
        return "not found"
    out = subprocess.run(
        [binary, "version", "-json"], env=terraform_env(), capture_output=True, text=True, timeout=60, check=False
    )
    try:
        return f"{json.loads(out.stdout)['terraform_version']} ({binary})"
    except (ValueError, KeyError):
        return f"unknown ({binary}: {out.stderr.strip()[:200]})"


def destroy_and_check(
    suffix: str, state_dir: Path, env: dict[str, str], deployment: list[str], checks: list[Check]
) -> Step:
    """Step 3, with the emulator and PostgreSQL checked after the destroy and before the command stops them.

    The bench holds the services lock for the whole step; when the command prints "destroyed ENV/SUFFIX"
    (the destroy is complete; it next takes that lock to stop the services), the bench checks, then
    releases. If the command waits on the lock without having printed that line, the lock is released
    after GUARD_S and the check counts as not run (the step is never left hanging)."""
    found: dict[str, list[str]] = {}
    try:
        before = status(env)
        endpoint = str(before["emulator"]["endpoint"])
        postgres_port = int(before["postgres"]["port"])
        existing = suffix_names(endpoint, suffix)
    except Exception as error:  # noqa: BLE001  - a failed check, and step 3 still runs (it cleans up)
        checks.append(Check("before step 3: status and the emulator answer", False, f"{type(error).__name__}: {error}"))
        return run_step("3. down --destroy", ["down", *deployment, "--destroy"], env)
    checks.append(
        Check(
            f"before step 3: the emulator holds the suffix's resources ({len(existing)} names)",
            bool(existing),
            "none found: the check after the destroy would prove nothing",
        )
    )
    marker = f"destroyed {ENVIRONMENT}/{suffix}"
    lock = ServicesLock(state_dir)
    lock.acquire()
    finished = threading.Event()

    def check_when_destroyed(line: Line, step: Step) -> None:
        if line.text.strip() != marker or not lock.held:
            return
        seen = time.monotonic()
        try:
            found["emulator"] = suffix_names(endpoint, suffix)
            found["postgres"] = database_leftovers(postgres_port, suffix)
        except Exception as error:  # noqa: BLE001  - reported as a failed check
            found["error"] = [f"{type(error).__name__}: {error}"]
        finally:
            lock.release()
            step.gated = time.monotonic() - seen

    def guard() -> None:
        waiting_since: float | None = None
        while not finished.wait(0.5) and lock.held:
            if not lock.waited_on():
                waiting_since = None
            elif waiting_since is None:
                waiting_since = time.monotonic()
            elif time.monotonic() - waiting_since > GUARD_S and lock.held and not found:
                lock.release()
                return

    watcher = threading.Thread(target=guard, daemon=True)
    watcher.start()
    try:
        step = run_step("3. down --destroy", ["down", *deployment, "--destroy"], env, on_stdout=check_when_destroyed)
    finally:
        finished.set()
        lock.release()
        watcher.join()
    checks.append(Check("step 3 `down --destroy` exits 0", step.returncode == 0, step.error_text[-3000:]))
    checks.append(
        Check(
            "after step 3's destroy, before it stopped the emulator: the check ran",
            bool(found),
            f'the command printed no "{marker}" before it waited to stop the services, or ended',
        )
    )
    if found:
        left = found.get("error", []) + found.get("emulator", []) + found.get("postgres", [])
        checks.append(
            Check(
                "nothing of the suffix left in the emulator or PostgreSQL (database, roles)",
                not left,
                "; ".join(left[:20]),
            )
        )
    gone = not state_dir.joinpath("deployments", f"{ENVIRONMENT}-{suffix}").exists()
    checks.append(Check("the deployment's state folder is gone", gone, "still there"))
    return step


def critical_path(step: Step) -> None:
    """The step's phases (with what the command printed under each) and its slowest resources."""
    print(f"\n{step.label}: `{' '.join(['payments', *step.argv[1:]])}`, {step.wall:.1f} s wall, exit {step.returncode}")
    marks = [line for line in step.stderr if line.text.startswith("==> ")]
    print(f"  {'phase':58} {'start s':>8} {'took s':>8}")
    first = marks[0].at if marks else step.wall
    print(f"  {'(process start, imports, before the first phase)':58} {0.0:8.1f} {first:8.1f}")
    for i, mark in enumerate(marks):
        end = marks[i + 1].at if i + 1 < len(marks) else step.wall
        print(f"  {mark.text[4:][:58]:58} {mark.at:8.1f} {end - mark.at:8.1f}")
        for line in step.stderr:
            if mark.at <= line.at < end and re.match(r"^    \S", line.text) and line is not mark:
                print(f"  {'':4}{line.text.strip()[:150]}")
    if step.gated:
        print(f"  (held {step.gated:.1f} s at the services lock for the bench's check of the emulator: not counted)")
    done = []
    for line in step.stderr:
        match = PROGRESS.match(line.text)
        if match:
            seconds = int(match.group(5))
            done.append((seconds, match.group(3), match.group(4), line.at - seconds, line.at))
    if not done:
        print("  no resource was created, changed or destroyed")
        return
    print(f"  {len(done)} resources; the {min(TOP, len(done))} slowest (terraform's seconds, whole):")
    print(f"  {'action':10} {'resource':62} {'s':>4} {'from s':>7} {'to s':>7}")
    for seconds, action, address, begun, ended in sorted(done, key=lambda d: -d[0])[:TOP]:
        print(f"  {action:10} {address[:62]:62} {seconds:4d} {begun:7.1f} {ended:7.1f}")
    waits = [line.text.strip() for line in step.stderr if line.text.strip().startswith("still ")]
    if waits:
        print(f"  waits the command reported: {'; '.join(waits[:8])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1, help="no-change re-runs of `payments up` (default 1)")
    parser.add_argument("--log-dir", type=Path, default=None, help="write each step's timestamped stderr here")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if not PAYMENTS.exists():
        parser.error(f"{PAYMENTS} is missing: run `make` first")

    suffix = "bench" + "".join(random.choices(string.ascii_lowercase, k=4))
    state_dir = Path(tempfile.mkdtemp(prefix="payments-lifecycle-bench-"))
    env = state_env(state_dir)
    deployment = ["--env", ENVIRONMENT, "--suffix", suffix]
    checks: list[Check] = []
    steps: list[Step] = []
    reruns: list[Step] = []
    destroy: Step | None = None
    cleaned = False
    print(
        f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start; terraform "
        f"{terraform_version()}; Python {sys.version.split()[0]}",
        flush=True,
    )
    print(f"deployment {ENVIRONMENT}/{suffix}, state folder {state_dir} (removed at the end)", flush=True)
    try:
        up = run_step("1. up (new suffix)", ["up", *deployment], env)
        steps.append(up)
        checks.append(Check("step 1 `up` exits 0", up.returncode == 0, up.error_text[-3000:]))
        print(f"step 1 up: {up.wall:.1f} s, exit {up.returncode}", flush=True)
        if up.returncode == 0:
            for n in range(args.runs):
                again = run_step(f"2. up again (no change, run {n + 1})", ["up", *deployment], env)
                reruns.append(again)
                zeros = again.error_text.count(ZERO)
                moved = "" if again.inputs == up.inputs else f" ({PACKAGE_MOVED})"
                checks.append(Check(f"re-run {n + 1}: exits 0", again.returncode == 0, again.error_text[-3000:]))
                checks.append(
                    Check(
                        f're-run {n + 1}: "{ZERO}" printed {ZERO_COUNT} times (bootstrap, platform)',
                        zeros == ZERO_COUNT,
                        f"printed {zeros} times{moved}",
                    )
                )
                print(f"step 2 up again ({n + 1}/{args.runs}): {again.wall:.1f} s, exit {again.returncode}", flush=True)
            steps.extend(reruns)
            checks.append(
                Check(
                    "the Lambda package's inputs stayed the same from step 1 through the re-runs",
                    all(r.inputs == up.inputs for r in reruns),
                    PACKAGE_MOVED,
                )
            )

            destroy = destroy_and_check(suffix, state_dir, env, deployment, checks)
            steps.append(destroy)
            print(f"step 3 down --destroy: {destroy.wall:.1f} s, exit {destroy.returncode}", flush=True)
    finally:
        down = subprocess.run(
            [str(PAYMENTS), "down", "--all"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        cleaned = down.returncode == 0
        if cleaned:
            shutil.rmtree(state_dir, ignore_errors=True)
        else:
            print(
                f"cleanup: `payments down --all` failed ({down.returncode}); {state_dir} is kept (its emulator and "
                f"PostgreSQL may still run: PAYMENTS_STATE_DIR={state_dir} {PAYMENTS} down --all):\n"
                f"{down.stderr[-2000:]}",
                file=sys.stderr,
            )
    checks.append(Check("cleanup: `payments down --all` exits 0", cleaned))

    if args.log_dir is not None:
        args.log_dir.mkdir(parents=True, exist_ok=True)
        for i, step in enumerate(steps, 1):
            text = "".join(f"{line.at:8.2f} {line.text}\n" for line in step.stderr)
            (args.log_dir / f"{i}-{re.sub(r'[^a-z0-9]+', '-', step.label.lower()).strip('-')}.log").write_text(text)

    print("\nCritical path of each step (offsets from the process's spawn)")
    for step in steps:
        critical_path(step)

    print(f"\nIssue 12's goals, {ENVIRONMENT}/{suffix}, one run side by side ({os.cpu_count()} CPUs)")
    print(f"{'step':34} {'goal s':>8} {'measured s':>11} {'/goal':>7}  verdict")
    # (label, goal, measured seconds or None when not run, whether every process of the row exited 0)
    rows: list[tuple[str, float, float | None, bool]] = [
        ("up, new suffix", UP_GOAL_S, steps[0].seconds if steps else None, bool(steps) and steps[0].returncode == 0),
        (
            f"up again, no change (median of {len(reruns)})",
            RERUN_GOAL_S,
            statistics.median(r.seconds for r in reruns) if reruns else None,
            all(r.returncode == 0 for r in reruns),
        ),
        (
            "down --destroy",
            DESTROY_GOAL_S,
            destroy.seconds if destroy else None,
            bool(destroy and destroy.returncode == 0),
        ),
    ]
    for label, goal, seconds, exited_ok in rows:
        if seconds is None:
            print(f"{label:34} {goal:8.0f} {'not run':>11}")
            continue
        verdict = "ok" if seconds <= goal and exited_ok else "MISSED" if exited_ok else "MISSED (failed)"
        print(f"{label:34} {goal:8.0f} {seconds:11.1f} {seconds / goal:7.2f}  {verdict}")
    if len(reruns) > 1:
        print(f"   no-change re-runs, s: {', '.join(f'{r.seconds:.1f}' for r in reruns)}")
    if destroy is not None and destroy.gated:
        print(f"   down --destroy: {destroy.wall:.1f} s wall, less {destroy.gated:.1f} s held for the bench's check")

    print("\nGuarantees")
    for check in checks:
        print(f"  {'ok    ' if check.ok else 'FAILED'}  {check.what}")
        if not check.ok and check.detail:
            print("          " + check.detail.strip().replace("\n", "\n          ")[-3000:])
    return 0 if all(check.ok for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
