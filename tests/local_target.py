"""The local target shared by the tiers that need a deployment (tests/emulator, tests/resilience): the
real `payments` command deploying to a moto server with the real terraform, in a state folder of the
test session's own. Registered as a plugin by tests/conftest.py, so `pytest tests/` does one `up` of
dev/alpha for every tier; every process started in the state folder is stopped at the end.

Set PAYMENTS_TEST_STATE_DIR to a state folder where `payments up --suffix alpha` already ran to
iterate on a tier without a new deployment each time (that folder is then left running).

Besides the fixtures, `LocalDeployment` gives tests what they need to act on a deployment from
outside: its PostgreSQL server (to stop and start it), a superuser connection to its database, API
keys made by its admin function, any of its functions as a warm runtime from the deployed zip, and
its API served in this process with the functions' AWS calls sent to an endpoint of the test's choice.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from payments_cli.deploy.admin import admin_answer
from payments_cli.deploy.state import StateFolder
from payments_cli.local import deviations
from payments_cli.local.edge.server import ApiHttpServer, LocalApi
from payments_cli.local.emulator import emulator_client
from payments_cli.local.lambda_runtime.functions import function_runtime
from payments_cli.local.lambda_runtime.workers import FunctionRuntime
from payments_cli.local.ports import free_port
from payments_cli.local.postgres import LocalPostgres
from payments_cli.local.records import DeploymentRecord, read_record
from payments_cli.local.serve import build_api
from payments_cli.local.services import Emulator, postgres_for, running_emulator
from payments_infra.naming import Naming


@dataclass(frozen=True)
class Cli:
    """Runs `payments` against one state folder."""

    state_dir: Path

    @property
    def env(self) -> dict[str, str]:
        """The environment every run gets. The served deployment runs no schedules: the tiers count every
        delivery and settlement themselves (tests/emulator/test_served_schedules.py serves with them on)."""
        return {**os.environ, "PAYMENTS_STATE_DIR": str(self.state_dir), "PAYMENTS_LOCAL_SCHEDULES": "0"}

    def command(self, *args: str) -> list[str]:
        """The argv of one run."""
        return [sys.executable, "-m", "payments_cli.main", *args]

    def run(self, *args: str, timeout: float = 900, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run to completion, capturing output; ``stdin`` is written to its standard input."""
        return subprocess.run(
            self.command(*args),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            input=stdin if stdin is not None else "",
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start without waiting."""
        return subprocess.Popen(
            self.command(*args), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def record(self, suffix: str, environment: str = "dev") -> DeploymentRecord:
        """The deployment's record."""
        record = read_record(self.state_dir / "deployments" / f"{environment}-{suffix}")
        assert record is not None, f"{environment}/{suffix} is not deployed"
        return record


@pytest.fixture(scope="session")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """One state folder for the session (one emulator, one PostgreSQL, deployments shared between tiers);
    everything started in it is stopped at the end of the session."""
    reused = os.environ.get("PAYMENTS_TEST_STATE_DIR")
    if reused:
        yield Cli(Path(reused).resolve())
        return
    state = tmp_path_factory.mktemp("payments-state")
    runner = Cli(state)
    try:
        yield runner
    finally:
        runner.run("down", "--all", timeout=300)
        _kill_leftovers(state)


def _kill_leftovers(state: Path) -> None:
    """Belt and braces: any recorded process still alive is killed."""
    import signal

    folder = StateFolder(state)
    for record_file in state.glob("*.json"):
        record = folder.read(record_file.stem)
        if record is not None and record.alive:  # its identity checked, not just a live pid
            try:
                os.killpg(record.pid, signal.SIGKILL)
            except OSError:
                os.kill(record.pid, signal.SIGKILL)
    data = state / "postgres" / "data"
    if (data / "PG_VERSION").exists():
        LocalPostgres(data, port=1).stop()


@pytest.fixture(scope="session")
def alpha(cli: Cli) -> DeploymentRecord:
    """The dev/alpha deployment, served: deployed by the first test that needs it (one `up` per session)."""
    folder = cli.state_dir / "deployments" / "dev-alpha" / "deployment.json"
    if not folder.exists():
        result = cli.run("up", "--suffix", "alpha")
        assert result.returncode == 0, result.stderr[-4000:]
    return cli.record("alpha")


@dataclass(frozen=True)
class LocalDeployment:
    """One deployment of the session's state folder, acted on from outside (see the module's docstring)."""

    cli: Cli
    suffix: str
    environment: str = "dev"

    @property
    def state(self) -> StateFolder:
        """The session's state folder."""
        return StateFolder(self.cli.state_dir)

    @property
    def record(self) -> DeploymentRecord:
        """The deployment's record (re-read: `payments up` and `serve` rewrite it)."""
        return self.cli.record(self.suffix, self.environment)

    @property
    def url(self) -> str:
        """The URL of the API `payments up` serves (stage included)."""
        return str(self.record["api"]["url"])

    @property
    def bucket(self) -> str:
        """The transaction-log bucket."""
        return str(self.record["outputs"]["transaction_log_bucket"])

    def function_name(self, purpose: str) -> str:
        """A function's deployed name: processor, reconcile, authorizer or admin."""
        return Naming(self.environment, self.suffix).function(purpose)

    def emulator(self) -> Emulator:
        """The running moto server."""
        emulator = running_emulator(self.state)
        assert emulator is not None, "the emulator of the session's state folder is not running"
        return emulator

    def s3(self) -> Any:
        """A boto3 S3 client on the emulator (straight, never through a test's fault endpoint)."""
        return emulator_client(self.emulator().endpoint, "s3")

    def postgres(self) -> LocalPostgres:
        """The state folder's PostgreSQL server, on its recorded port: stop() and start() it at will."""
        return postgres_for(self.state)

    def sql(self) -> psycopg.Connection[tuple[Any, ...]]:
        """A superuser connection (autocommit) to the deployment's database."""
        return psycopg.connect(self.postgres().superuser_dsn_for(str(self.record["database"])), autocommit=True)

    def function_env(self, purpose: str) -> dict[str, str]:
        """The environment a function runs with on the local target: as deployed, mapped as the local
        runtime maps it (``deviations.function_environment``)."""
        lambda_client: Any = self.emulator().client("lambda")
        config = lambda_client.get_function(FunctionName=self.function_name(purpose))["Configuration"]
        return deviations.function_environment(
            config.get("Environment", {}).get("Variables", {}),
            postgres_port=self.postgres().port,
            database=str(self.record["database"]),
            endpoint=self.emulator().endpoint,
            function_name=self.function_name(purpose),
        )

    def runtime(
        self, purpose: str, *, aws_endpoint: str | None = None, concurrency: int = 1, timeout_s: float | None = None
    ) -> FunctionRuntime:
        """A warm runtime of one deployed function from its zip, as `payments serve` runs it; its AWS SDK
        calls go to ``aws_endpoint`` (default the emulator), its invocations get ``timeout_s`` (default the
        deployed timeout) as the Lambda context's deadline. Close it."""
        emulator = self.emulator()
        if aws_endpoint is not None:
            emulator = Emulator(aws_endpoint, emulator.port, emulator.pid, emulator.generation)
        runtime = function_runtime(
            self.state,
            self.environment,
            self.suffix,
            self.function_name(purpose),
            record=self.record,
            emulator=emulator,
            postgres_port=self.postgres().port,
            concurrency=concurrency,
        )
        if timeout_s is not None:
            runtime.timeout_s = timeout_s
        return runtime

    def create_keys(self, merchants: list[str]) -> list[str]:
        """A new secret API key for each merchant, made by the deployment's admin function (one warm
        runtime for all: `payments keys create` would start one per key)."""
        admin = self.runtime("admin")
        try:
            secrets = []
            for merchant in merchants:
                reply = admin.invoke({"action": "create_key", "merchant_id": merchant, "read_only": False})
                answer = admin_answer(admin.name, reply.get("result"), reply.get("error"))
                secrets.append(str(answer["key"]["secret"]))
            return secrets
        finally:
            admin.close()

    @contextlib.contextmanager
    def serve(self, *, aws_endpoint: str | None = None) -> Iterator[tuple[str, LocalApi]]:
        """The deployment's API served in this process by the local API server's code (the URL with the
        stage, and the LocalApi with its function runtimes), the functions' AWS SDK calls going to
        ``aws_endpoint``; stopped at the end."""
        api, _ = build_api(self.state, self.environment, self.suffix, aws_endpoint=aws_endpoint)
        try:
            server = ApiHttpServer(free_port(), api)
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            try:
                yield f"http://127.0.0.1:{server.port}/{api.stages[0]}", api
            finally:
                server.shutdown()
                server.server_close()
                thread.join(timeout=10)
        finally:
            for function in api.functions.values():
                function.close()


@pytest.fixture(scope="session")
def alpha_deployment(cli: Cli, alpha: DeploymentRecord) -> LocalDeployment:
    """dev/alpha, deployed and served, as a LocalDeployment."""
    return LocalDeployment(cli, "alpha")


def call(
    url: str,
    method: str,
    path: str,
    *,
    secret: str | None = None,
    body: Any = None,
    key: str | None = None,
    timeout_s: float = 60,
) -> tuple[int, dict[str, str], Any]:
    """One HTTP request to a served API (``url`` with the stage), on a connection of its own: the status,
    the headers (lower-case names) and the JSON body. Connection failures raise OSError."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout_s)
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    if key is not None:
        headers["Idempotency-Key"] = key
    try:
        conn.request(method, parts.path + path, body=None if body is None else json.dumps(body), headers=headers)
        response = conn.getresponse()
        raw = response.read()
    except http.client.HTTPException as error:  # a cut-off answer is a connection failure to a client
        raise ConnectionError(f"{type(error).__name__}: {error}") from error
    finally:
        conn.close()
    try:
        parsed = json.loads(raw or b"null")
    except ValueError:
        parsed = {"raw": raw.decode(errors="replace")}
    return response.status, {k.lower(): v for k, v in response.getheaders()}, parsed


@contextlib.contextmanager
def console_process(cli: Cli, suffix: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`payments console --suffix SUFFIX` running, and the sign-in address it printed first; stopped with Ctrl-C
    (SIGINT) at the end, killed if it does not stop."""
    process = cli.start("console", "--suffix", suffix)
    try:
        assert process.stdout is not None
        yield process, process.stdout.readline().strip()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
