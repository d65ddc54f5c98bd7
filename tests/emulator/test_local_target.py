"""The local target end to end: `payments up`, smoke, idempotent re-runs, concurrent deploys, two
suffixes on one emulator, no password anywhere, and `down --destroy` leaving nothing behind.

The tests of this module build on each other in order (one emulator, one PostgreSQL): alpha is
deployed first and stays up; beta is deployed concurrently twice, served beside alpha, then destroyed.
"""

from __future__ import annotations

import json
import re
from typing import Any

import psycopg
import pytest

from payments_cli.local.emulator import emulator_client
from tests.emulator.conftest import Cli

# A deploy is minutes of real terraform against the emulator: well past the suite-wide 300 s per test.
pytestmark = [pytest.mark.emulator, pytest.mark.timeout(900)]
ZERO = "0 to add, 0 to change, 0 to destroy"
ACCOUNT_ROLE = "payment-apigw-logs-account-us-east-1"
UNCHANGED_ACCOUNT = "account stack payments-account-us-east-1: unchanged on this emulator"


def _account_setting(cli: Cli) -> str:
    """The role API Gateway writes logs with, as the emulator's account settings name it."""
    return str(_client(cli, "apigateway").get_account().get("cloudwatchRoleArn", ""))


def _client(cli: Cli, service: str) -> Any:
    return emulator_client(str(cli.record("alpha")["emulator"]), service)


def test_up_deploys_serves_and_a_payment_goes_through(cli: Cli) -> None:
    result = cli.run("up", "--suffix", "alpha")
    assert result.returncode == 0, result.stderr[-4000:]
    assert "dev/alpha is up" in result.stdout and "http://127.0.0.1:" in result.stdout
    totals = re.findall(r"\[\s*(\d+)/(\d+)\] created", result.stderr)
    assert totals and totals[-1][0] == totals[-1][1], "progress is shown as done/total and reaches the total"
    assert "roles payments_dev_alpha_app, payments_dev_alpha_auth" in result.stderr, "the admin setup ran"
    # The account stack (API Gateway's CloudWatch role) came with the first deployment on this emulator.
    assert re.search(r"account stack payments-account-us-east-1: (\d+ to add|unchanged)", result.stderr)
    assert _account_setting(cli).endswith(f":role/{ACCOUNT_ROLE}")
    smoke = cli.run("smoke", "--suffix", "alpha")
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    assert smoke.stdout.count("  ok  ") == 16
    assert "no API key → 401" in smoke.stdout and "another merchant's GET → 404" in smoke.stdout
    for step in (
        "capture 1500 of 1999 → 200",
        "refund 500 → 201",
        "GET /payments lists it",
        "GET /events",
        "webhook payment.succeeded delivered, signature verifies (standardwebhooks)",
    ):
        assert step in smoke.stdout


def test_up_again_changes_nothing(cli: Cli) -> None:
    served = cli.record("alpha")["api"]
    result = cli.run("up", "--suffix", "alpha")
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stderr.count(ZERO) == 2, "bootstrap and platform both plan no change"
    assert UNCHANGED_ACCOUNT in result.stderr, "the account stack, applied to this emulator as it is, is not run"
    assert "==> terraform plan and apply" in result.stderr and "  [" not in result.stderr, "nothing applied"
    kept = cli.record("alpha")["api"]
    assert f"kept the running API server (pid {served['pid']})" in result.stderr
    assert kept["pid"] == served["pid"] and kept["url"] == served["url"]
    smoke = cli.run("smoke", "--suffix", "alpha")
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr
    plan = cli.run("plan", "--suffix", "alpha")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert f"plan dev/alpha: {ZERO}" in plan.stdout


def test_up_puts_back_a_change_made_behind_its_back_and_restarts_the_api_server(cli: Cli) -> None:
    """The no-change re-run above proves nothing unless the same re-run catches a real difference: here the
    processor's memory is changed in the emulator directly, and `up` plans it, applies it back, and starts the
    API server again (it read the function's configuration at start)."""
    served = cli.record("alpha")["api"]
    function = str(cli.record("alpha")["outputs"]["function_name"])
    functions = _client(cli, "lambda")
    deployed = functions.get_function_configuration(FunctionName=function)["MemorySize"]
    functions.update_function_configuration(FunctionName=function, MemorySize=deployed + 128)
    result = cli.run("up", "--suffix", "alpha")
    assert result.returncode == 0, result.stderr[-4000:]
    assert "0 to add, 1 to change, 0 to destroy" in result.stderr, result.stderr[-3000:]
    assert functions.get_function_configuration(FunctionName=function)["MemorySize"] == deployed
    restarted = cli.record("alpha")["api"]
    assert restarted["pid"] != served["pid"] and "kept the running API server" not in result.stderr
    assert restarted["url"] == served["url"], "the server comes back on its port"
    smoke = cli.run("smoke", "--suffix", "alpha")
    assert smoke.returncode == 0, smoke.stdout + smoke.stderr


def test_two_deploys_of_one_suffix_at_once_one_waits_for_the_lock(cli: Cli) -> None:
    first, second = cli.start("deploy", "--suffix", "beta"), cli.start("deploy", "--suffix", "beta")
    outcomes = []
    for process in (first, second):
        out, err = process.communicate(timeout=900)  # reads as it waits: a full pipe never stalls the run
        outcomes.append((process.returncode, out, err))
    codes = sorted(code for code, _, _ in outcomes)
    assert codes == [0, 1], "\n\n".join(f"exit {code}:\n{err[-3000:]}" for code, _, err in outcomes)
    _, _, refused = next(o for o in outcomes if o[0] == 1)
    assert "state lock is held by " in refused and "nothing was changed" in refused, refused[-3000:]
    # The state survived intact: the winner's deployment plans no change.
    plan = cli.run("plan", "--suffix", "beta")
    assert plan.returncode == 0 and f"plan dev/beta: {ZERO}" in plan.stdout, plan.stderr[-3000:]
    state = _client(cli, "s3").get_object(Bucket="payment-tfstate-dev-beta", Key="payments/dev/terraform.tfstate")
    assert len(json.loads(state["Body"].read())["resources"]) > 50


def test_two_suffixes_run_side_by_side(cli: Cli) -> None:
    up = cli.run("up", "--suffix", "beta")
    assert up.returncode == 0, up.stderr[-3000:]
    assert UNCHANGED_ACCOUNT in up.stderr, "a second suffix shares the account stack the first one applied"
    for suffix in ("alpha", "beta"):
        smoke = cli.run("smoke", "--suffix", suffix)
        assert smoke.returncode == 0, smoke.stdout
    alpha, beta = cli.record("alpha"), cli.record("beta")
    assert alpha["database"] != beta["database"]
    assert alpha["outputs"]["rest_api_id"] != beta["outputs"]["rest_api_id"]
    assert alpha["api"]["port"] != beta["api"]["port"]
    port = json.loads(cli.run("status", "--format", "json").stdout)
    served = {d["suffix"]: d for d in port["deployments"]}
    assert served["alpha"]["url"] and served["beta"]["url"]
    for suffix in ("alpha", "beta"):
        outbox = served[suffix]["outbox"]
        assert outbox is not None and outbox["dead_lettered"] == 0, "status shows each deployment's outbox"
    text = cli.run("status")
    assert text.returncode == 0, text.stderr
    shown = text.stdout.splitlines()
    assert shown[0] == f"state      {port['state_dir']}" and shown[1].startswith("emulator   http://127.0.0.1:")
    assert shown[2] == f"postgres   127.0.0.1:{port['postgres']['port']} (running)"
    for suffix in ("alpha", "beta"):
        assert f"dev/{suffix:<12} {served[suffix]['url']}" in shown, "each deployment with where it is served"
    assert sum(line.startswith("  transaction log: ") for line in shown) == 2, "and its outbox"
    with psycopg.connect(
        f"host=127.0.0.1 port={port['postgres']['port']} user=postgres dbname={alpha['database']}"
    ) as conn:
        merchants = {row[0] for row in conn.execute("SELECT DISTINCT merchant_id FROM payments")}
    assert merchants == {"merch_smoke_alpha"}, "each deployment's payments are in its own database"


def test_no_password_in_state_or_any_log(cli: Cli) -> None:
    """Neither the admin login, nor the application roles' generated logins, nor the pepper."""
    secrets = _client(cli, "secretsmanager")
    passwords = []
    for suffix in ("alpha", "beta"):
        arn = cli.record(suffix)["outputs"]["database_secret_arn"]
        passwords.append(json.loads(secrets.get_secret_value(SecretId=arn)["SecretString"])["password"])
        for purpose in ("db-app", "db-auth", "api-key-pepper"):
            value = json.loads(secrets.get_secret_value(SecretId=f"payment/dev/{suffix}/{purpose}")["SecretString"])
            passwords.append(value.get("password") or value["pepper"])
    assert len(set(passwords)) == 7, "each login has its own password (the two admin ones are moto's fixed one)"
    s3 = _client(cli, "s3")
    texts = []
    for suffix in ("alpha", "beta"):
        body = s3.get_object(Bucket=f"payment-tfstate-dev-{suffix}", Key="payments/dev/terraform.tfstate")["Body"]
        texts.append(("state " + suffix, body.read().decode()))
    for path in cli.state_dir.rglob("*"):
        if path.is_file() and (path.suffix in (".log", ".tfstate", ".json") or "log" in path.name):
            texts.append((str(path), path.read_text(errors="replace")))
    assert len(texts) > 8
    for where, text in texts:
        for password in passwords:
            assert password not in text, f"the database password is in {where}"


def test_down_destroy_leaves_nothing_of_the_suffix(cli: Cli) -> None:
    result = cli.run("down", "--suffix", "beta", "--destroy")
    assert result.returncode == 0, result.stderr[-3000:]
    leftovers = []
    names = [
        *[b["Name"] for b in _client(cli, "s3").list_buckets()["Buckets"]],
        *[f["FunctionName"] for f in _client(cli, "lambda").list_functions()["Functions"]],
        *[a["name"] for a in _client(cli, "apigateway").get_rest_apis()["items"]],
        *[d["DBInstanceIdentifier"] for d in _client(cli, "rds").describe_db_instances()["DBInstances"]],
        *[r["RoleName"] for r in _client(cli, "iam").list_roles()["Roles"]],
        *[p["PolicyName"] for p in _client(cli, "iam").list_policies(Scope="Local")["Policies"]],
        *[g["logGroupName"] for g in _client(cli, "logs").describe_log_groups()["logGroups"]],
        *[a["AliasName"] for a in _client(cli, "kms").list_aliases()["Aliases"]],
        *[g["GroupName"] for g in _client(cli, "ec2").describe_security_groups()["SecurityGroups"]],
        *[r["Name"] for r in _client(cli, "events").list_rules()["Rules"]],
        *[s["Name"].replace("/", "-") for s in _client(cli, "secretsmanager").list_secrets()["SecretList"]],
        *[a["Name"] for a in _client(cli, "wafv2").list_web_acls(Scope="REGIONAL")["WebACLs"]],
    ]
    tagged = _client(cli, "ec2").describe_vpcs(Filters=[{"Name": "tag:Deployment", "Values": ["beta"]}])["Vpcs"]
    leftovers = [n for n in names if "-beta" in n] + [v["VpcId"] for v in tagged]
    assert leftovers == []
    assert any("-alpha" in n for n in names), "the other deployment is untouched"
    assert ACCOUNT_ROLE in names and _account_setting(cli).endswith(f":role/{ACCOUNT_ROLE}"), (
        "the account stack, which every deployment shares, stays"
    )
    account = cli.run("account")
    assert account.returncode == 0, account.stderr[-3000:]
    assert account.stdout.strip() == "account stack payments-account-us-east-1 on local: nothing to change"
    assert not (cli.state_dir / "deployments" / "dev-beta").exists()
    port = json.loads(cli.run("status", "--format", "json").stdout)["postgres"]["port"]
    with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres") as conn:
        roles = [r[0] for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'payments_dev_%'")]
    assert sorted(roles) == ["payments_dev_alpha_app", "payments_dev_alpha_auth"], (
        "the destroyed deployment's database roles are gone, the other's stay"
    )
    smoke = cli.run("smoke", "--suffix", "alpha")
    assert smoke.returncode == 0, smoke.stdout
