"""Preflight against checkov on the same files, side by side in one run: this project's synthesized
stacks, then the plan JSON of a hand-written HCL project.

Synthesized stacks: for each environment's platform stack, preflight in-process (load + every check,
median of many runs), preflight as a command (`payments check FILE`, a fresh process), and checkov as a
command (`checkov -f cdk.tf.json`, from its own virtual environment, created on first use). Then each of
the ten catalogued deploy failures (src/preflight/failures.py) is written into the dev stack, and each tool
is asked whether it notices: preflight by an error from a check that prevents that failure, checkov by any
failed check that the unmutated stack did not have.

Plan JSON: the HCL project of tests/preflight/hcl (fixed/, and deploy_failures/ with all ten) is
planned with the real terraform (/usr/local/bin/terraform, the provider from the machine's mirror)
against a moto server this bench starts on 127.0.0.1 and stops: `terraform init` with the S3 backend on
the emulator, `terraform plan -out`, `terraform show -json` > plan.json. Besides those two, each failure
is written alone into the fixed project (tests/preflight/hcl/planning.py's DEFECTS, the same edits that
make deploy_failures/) and planned, so twelve plans in all, two at a time. Both tools then read the same
plan.json: preflight as above (`payments check plan.json`), checkov as `checkov -f plan.json --framework
terraform_plan`; a failure is caught as for the stacks, against the fixed project's plan. `terraform show
-json` writes no backend block: preflight reads a shared state backend from the backend `terraform init`
recorded in .terraform/ beside plan.json; checkov reads the plan JSON alone.

Run: make bench-preflight   (first run installs checkov into .bench/checkov-venv: a minute or two)
     --skip-stacks or --skip-plans runs one half only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.preflight: the same mutations and HCL projects the tests use

from tests.preflight.deploy_failures import REPRODUCTIONS  # noqa: E402
from tests.preflight.hcl.planning import (  # noqa: E402
    DEFECTS,
    DEPLOY_FAILURES,
    FIXED,
    Planned,
    plan_project,
    with_defects,
)

from payments_cli.local.emulator import MotoServer  # noqa: E402
from payments_infra.synth import Deployment, synthesize  # noqa: E402
from preflight.failures import FAILURES  # noqa: E402
from preflight.loader import load  # noqa: E402
from preflight.model import Severity  # noqa: E402
from preflight.registry import all_checks  # noqa: E402
from preflight.runner import run  # noqa: E402

CHECKOV_VERSION = "3.3.30"
CHECKOV_VENV = ROOT / ".bench" / "checkov-venv"


def ensure_checkov() -> Path:
    """checkov in its own virtual environment (its dependencies would clash with the project's)."""
    binary = CHECKOV_VENV / "bin" / "checkov"
    if binary.exists():
        return binary
    print(f"installing checkov=={CHECKOV_VERSION} into {CHECKOV_VENV} ...", file=sys.stderr)
    subprocess.run(["python3.11", "-m", "venv", str(CHECKOV_VENV)], check=True)
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    subprocess.run(
        [str(CHECKOV_VENV / "bin" / "pip"), "install", "--quiet", f"checkov=={CHECKOV_VERSION}"], check=True, env=env
    )
    return binary


def accommodate_checkov(path: Path, folder: Path) -> Path:
    """A copy checkov 3.3's terraform_json parser can read.

    Its parser raises "this method receives only dicts" on any plain value inside the ``terraform``
    block, so the synthesized ``terraform.required_version`` makes it skip the whole file (0 checks,
    1 parsing error). The copy drops that one key and changes nothing else.
    """
    document = json.loads(path.read_text())
    document.get("terraform", {}).pop("required_version", None)
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "cdk.tf.json"
    copy.write_text(json.dumps(document, indent=2))
    return copy


def checkov_summary(checkov: Path, path: Path) -> dict[str, int]:
    """checkov's own summary (passed, failed, parsing_errors) for one file."""
    result = subprocess.run(
        [str(checkov), "-f", str(path), "-o", "json", "--quiet", "--skip-download"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report = json.loads(result.stdout or "{}")
    report = report[0] if isinstance(report, list) else report
    return dict(report.get("summary", {}))


def checkov_failures(checkov: Path, path: Path, *options: str) -> tuple[set[tuple[str, str]], float]:
    """(check id, resource) of every failed checkov check on one file, and the wall time."""
    started = time.perf_counter()
    result = subprocess.run(
        [str(checkov), "-f", str(path), "-o", "json", "--quiet", "--compact", "--skip-download", *options],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"},
    )
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise RuntimeError(f"checkov failed on {path}: {result.stderr[-2000:]}")
    reports = json.loads(result.stdout or "[]")
    failed: set[tuple[str, str]] = set()
    for report in reports if isinstance(reports, list) else [reports]:
        for item in report.get("results", {}).get("failed_checks", []):
            failed.add((item["check_id"], item["resource"]))
    return failed, elapsed


def preflight_errors(path: Path) -> set[tuple[str, str]]:
    """(check id, resource) of every error-severity preflight finding."""
    return {(f.check_id, f.resource) for f in run(load(path)) if f.severity is Severity.ERROR}


def time_inprocess(path: Path, runs: int) -> tuple[float, float]:
    """Seconds of load + every check: the first run (reads and hashes the 25 MB zip) and the median
    of the repeats (the zip's hash and entries are cached per file version)."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run(load(path))
        samples.append(time.perf_counter() - started)
    return samples[0], statistics.median(samples[1:])


def time_command(command: list[str], runs: int) -> float:
    """Median wall seconds of a command."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def mutated_copy(source: Path, failure: str, folder: Path) -> Path:
    """The stack with one catalogued failure written in, beside a link to its real Lambda assets."""
    document = json.loads(source.read_text())
    REPRODUCTIONS[failure](document)
    target = folder / f"defect-{failure}"
    target.mkdir()
    (target / "assets").symlink_to(source.parent / "assets")
    path = target / "cdk.tf.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def bench_stacks(checkov: Path, payments: list[str], folder: Path, runs: int) -> None:
    """The synthesized stacks: time per stack, then the catalogued failures written into the dev stack."""
    print("synthesizing dev, staging and prod ...", file=sys.stderr)
    result = synthesize([Deployment(env, "bench") for env in ("dev", "staging", "prod")], out=folder / "cdktf.out")
    print("\n## Time per stack (median; same file for both tools)\n")
    print(
        "| stack | resources | preflight in-process first / repeat | preflight command | checkov command | "
        "checkov / preflight |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    baseline: dict[str, set[tuple[str, str]]] = {}
    for env in ("dev", "staging", "prod"):
        path = result.stack(env, "bench").path
        resources = len(load(path).resources)
        first, repeat = time_inprocess(path, runs=20)
        command = time_command([*payments, str(path)], runs)
        readable = accommodate_checkov(path, folder / "checkov" / env)
        times = []
        for _ in range(runs):
            failed, elapsed = checkov_failures(checkov, readable)
            times.append(elapsed)
        baseline[env] = failed
        checkov_time = statistics.median(times)
        print(
            f"| {path.parent.name} | {resources} | {first * 1000:.0f} / {repeat * 1000:.1f} ms | {command:.2f} s | "
            f"{checkov_time:.2f} s | {checkov_time / command:.1f}x |"
        )
    dev_path = result.stack("dev", "bench").path
    as_synthesized = checkov_summary(checkov, dev_path)
    readable_summary = checkov_summary(checkov, accommodate_checkov(dev_path, folder / "checkov" / "summary"))
    ran_raw = as_synthesized.get("passed", 0) + as_synthesized.get("failed", 0)
    ran = readable_summary.get("passed", 0) + readable_summary.get("failed", 0)
    print(f"\ncheckov {CHECKOV_VERSION} on cdk.tf.json as synthesized: {as_synthesized.get('parsing_errors')} parsing")
    print(f"error(s), {ran_raw} checks run. Times and catches here are on a copy without")
    print(f"terraform.required_version, which its parser cannot read; there it runs {ran} checks and fails")
    print(f"{len(baseline['dev'])} on the unmutated dev stack (X-Ray, WAF, DLQ, replication...).")
    print("preflight reports 0 errors on all three stacks.")

    print("\n## The ten catalogued deploy failures, written into the dev stack one at a time\n")
    dev = result.stack("dev", "bench").path
    copies = {failure: mutated_copy(dev, failure, folder) for failure in REPRODUCTIONS}
    caught = print_catches(
        {
            failure: (
                path,
                lambda path=path: checkov_failures(checkov, accommodate_checkov(path, path.parent / "checkov"))[0],
            )
            for failure, path in copies.items()
        },
        clean=preflight_errors(dev),
        baseline=baseline["dev"],
    )
    print(f"\npreflight catches {caught['preflight']}/10, checkov {caught['checkov']}/10.")
    shutil.rmtree(folder / "cdktf.out", ignore_errors=True)


def print_catches(
    cases: dict[str, tuple[Path, Callable[[], set[tuple[str, str]]]]],
    *,
    clean: set[tuple[str, str]],
    baseline: set[tuple[str, str]],
) -> dict[str, int]:
    """One row per catalogued failure: the file carrying it and how to get checkov's failures on it. A failure is
    caught by preflight through a new error from a check that prevents it, by checkov through any new failed
    check."""
    print("| failure | what it is | preflight | checkov |")
    print("|---|---|---|---|")
    built_for = {c.id: set(c.prevents) for c in all_checks()}
    caught = {"preflight": 0, "checkov": 0}
    for failure, (path, checkov_failed) in cases.items():
        ours = sorted({cid for cid, _ in preflight_errors(path) - clean if failure in built_for.get(cid, set())})
        theirs = sorted({cid for cid, _ in checkov_failed() - baseline})
        caught["preflight"] += bool(ours)
        caught["checkov"] += bool(theirs)
        print(
            f"| {failure} | {FAILURES[failure].title} | {'caught: ' + ', '.join(ours) if ours else 'missed'} | "
            f"{'caught: ' + ', '.join(theirs) if theirs else 'missed'} |"
        )
    return caught


def plan_projects(folder: Path) -> dict[str, Planned]:
    """The HCL project fixed, with every catalogued failure, and with each alone, planned against a moto server
    of this bench's own (two terraform processes at a time)."""
    fixed = (FIXED / "main.tf").read_text()
    # (project folder, main.tf replacing its own, deployment suffix): a suffix each, so that the corrected
    # backends keep a state bucket and lock of their own and the plans do not wait for each other.
    projects: dict[str, tuple[Path, str | None, str]] = {
        "fixed": (FIXED, None, "bench"),
        "deploy_failures": (DEPLOY_FAILURES, None, "bench"),
    }
    for number, failure in enumerate(DEFECTS, start=1):
        projects[f"defect-{failure}"] = (FIXED, with_defects(fixed, [failure]), f"bench{number}")
    folder.mkdir(parents=True, exist_ok=True)
    server = MotoServer(log_path=folder / "moto.log")
    server.start()
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {
                name: pool.submit(plan_project, source, folder / name, server.endpoint, main_tf=text, suffix=suffix)
                for name, (source, text, suffix) in projects.items()
            }
            return {name: future.result() for name, future in futures.items()}
    finally:
        server.stop()


def bench_plans(checkov: Path, payments: list[str], folder: Path, runs: int) -> None:
    """The HCL project's plan JSON: plan time, time per plan file, then the catalogued failures one at a time."""
    print(f"planning the HCL project {2 + len(DEFECTS)} times against a moto server ...", file=sys.stderr)
    started = time.perf_counter()
    planned = plan_projects(folder / "plans")
    wall = time.perf_counter() - started
    steps = {step: statistics.median(p.seconds[step] for p in planned.values()) for step in ("init", "plan", "show")}
    print("\n## Plan JSON of an HCL project (terraform show -json; same file for both tools)\n")
    print(
        f"{len(planned)} plans against moto in {wall:.0f} s, two at a time; median per plan: init "
        f"{steps['init']:.1f} s, plan {steps['plan']:.1f} s, show -json {steps['show']:.1f} s.\n"
    )
    print(
        "| plan | resources | preflight in-process first / repeat | preflight command | checkov command | "
        "checkov / preflight |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    plan_options = ("--framework", "terraform_plan")
    failures: dict[str, set[tuple[str, str]]] = {}
    for name in ("fixed", "deploy_failures"):
        path = planned[name].plan_json
        resources = len(load(path).resources)
        first, repeat = time_inprocess(path, runs=20)
        command = time_command([*payments, str(path)], runs)
        times = []
        for _ in range(runs):
            failed, elapsed = checkov_failures(checkov, path, *plan_options)
            times.append(elapsed)
        failures[name] = failed
        checkov_time = statistics.median(times)
        print(
            f"| {name}/plan.json | {resources} | {first * 1000:.0f} / {repeat * 1000:.1f} ms | {command:.2f} s | "
            f"{checkov_time:.2f} s | {checkov_time / command:.1f}x |"
        )
    baseline = failures["fixed"]
    clean = preflight_errors(planned["fixed"].plan_json)
    everything = preflight_errors(planned["deploy_failures"].plan_json)
    print(
        f"\n(check, resource) pairs failed on the fixed project's plan: preflight {len(clean)}, checkov "
        f"{len(baseline)}; on the all-failures plan: preflight {len(everything)}, "
        f"checkov {len(failures['deploy_failures'])}."
    )

    print("\n## The ten catalogued deploy failures, written into the HCL project one at a time, through plan JSON\n")
    plans = {failure: planned[f"defect-{failure}"].plan_json for failure in DEFECTS}
    caught = print_catches(
        {
            failure: (path, lambda path=path: checkov_failures(checkov, path, *plan_options)[0])
            for failure, path in plans.items()
        },
        clean=clean,
        baseline=baseline,
    )
    print(f"\nThrough plan JSON preflight catches {caught['preflight']}/10, checkov {caught['checkov']}/10.")


def main() -> int:
    """Run both tools over the same files and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per command timing (default 3)")
    parser.add_argument("--skip-stacks", action="store_true", help="only the HCL project's plan JSON")
    parser.add_argument("--skip-plans", action="store_true", help="only the synthesized stacks")
    args = parser.parse_args()
    checkov = ensure_checkov()
    payments = [sys.executable, "-m", "payments_cli.main", "check"]
    with tempfile.TemporaryDirectory(prefix="preflight-bench-") as scratch:
        folder = Path(scratch)
        if not args.skip_stacks:
            bench_stacks(checkov, payments, folder, args.runs)
        if not args.skip_plans:
            bench_plans(checkov, payments, folder, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
