"""The deployment's Lambda functions, run locally from the deployed zip (see ``deviations``, gap 3).

A function's handler, runtime, timeout, memory, environment and code hash are read back from the
emulator's Lambda, exactly as deployed; the zip is the stack asset with that hash. Used by the API
server (processor and authorizer) and by the admin calls of ``payments up`` and ``payments keys``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from payments_cli.deploy.admin import admin_answer
from payments_cli.deploy.state import StateFolder
from payments_cli.errors import ServeError
from payments_cli.local import deviations
from payments_cli.local.lambda_runtime.interpreter import find_python
from payments_cli.local.lambda_runtime.package import deployed_zip, extract
from payments_cli.local.lambda_runtime.workers import FunctionRuntime
from payments_cli.local.records import DeploymentRecord, read_record
from payments_cli.local.services import Emulator, postgres_for, running_emulator


def deployment_context(state: StateFolder, environment: str, suffix: str) -> tuple[DeploymentRecord, Emulator, int]:
    """The deployment's record, the emulator holding it and the local PostgreSQL port; ServeError if any is gone."""
    folder = state.deployment_dir(environment, suffix)
    record = read_record(folder)
    if record is None:
        raise ServeError(f"{environment}/{suffix} is not deployed on this machine: run `payments up` first")
    emulator = running_emulator(state)
    if emulator is None:
        raise ServeError("the local AWS emulator is not running: run `payments up` to start it and deploy")
    if emulator.generation != record["emulator_generation"]:
        raise ServeError(
            f"the emulator was restarted since {environment}/{suffix} was deployed, so its resources are gone: "
            "run `payments up` again"
        )
    postgres = postgres_for(state)
    if not postgres.is_running():
        raise ServeError("the local PostgreSQL server is not running: run `payments up`")
    return record, emulator, postgres.port


def function_runtime(
    state: StateFolder,
    environment: str,
    suffix: str,
    name: str,
    *,
    record: DeploymentRecord,
    emulator: Emulator,
    postgres_port: int,
    concurrency: int = 4,
) -> FunctionRuntime:
    """A pool of warm workers for function ``name`` of the deployment, configured as deployed."""
    folder = state.deployment_dir(environment, suffix)
    lambda_client: Any = emulator.client("lambda")
    config = lambda_client.get_function(FunctionName=name)["Configuration"]
    runtime = str(config["Runtime"])
    if not runtime.startswith("python"):
        raise ServeError(f"{name} runs on {runtime}; the local target executes Python functions only")
    python = find_python(runtime.removeprefix("python"))
    package = deployed_zip(str(config["CodeSha256"]), Path(record["stack_dir"]) / "assets")
    task = extract(package, folder / "task")
    env = deviations.function_environment(
        config.get("Environment", {}).get("Variables", {}),
        postgres_port=postgres_port,
        database=str(record["database"]),
        endpoint=emulator.endpoint,
        function_name=name,
    )
    env["PATH"] = "/usr/bin:/bin"
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    return FunctionRuntime(
        name=name,
        handler=str(config["Handler"]),
        timeout_s=float(config.get("Timeout", 3)),
        memory_mb=int(config.get("MemorySize", 128)),
        python=python,
        task=task,
        env=env,
        log=folder / "logs" / f"function-{name}.log",
        concurrency=concurrency,
    )


def local_actor() -> str:
    """Who runs a command on the local target, for the audit log: ``local:<user>@<host>``."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        user = f"uid{os.getuid()}"
    return f"local:{user}@{socket.gethostname()}"


def invoke_admin(state: StateFolder, environment: str, suffix: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run one admin action (``payment_processor.admin``) with the deployed admin function, locally, as the
    user running this (the audit log's ``actor``)."""
    with AdminFunction(state, environment, suffix) as admin:
        return admin.invoke(payload)


class AdminFunction:
    """The deployed admin function kept warm for many actions (the console's pages), as Lambda keeps a warm
    execution environment: one worker started from the zip, each action one invocation, as the local user."""

    def __init__(self, state: StateFolder, environment: str, suffix: str) -> None:
        record, emulator, port = deployment_context(state, environment, suffix)
        self.name = str(record["outputs"].get("admin_function_name") or "")
        if not self.name:
            raise ServeError(f"{environment}/{suffix} was deployed without an admin function: run `payments up` again")
        self._runtime = function_runtime(
            state, environment, suffix, self.name, record=record, emulator=emulator, postgres_port=port, concurrency=1
        )
        self._actor = local_actor()

    def invoke(self, payload: dict[str, Any]) -> dict[str, Any]:
        """One action's answer, or AdminCallFailed."""
        reply = self._runtime.invoke({**payload, "actor": self._actor})
        return admin_answer(self.name, reply.get("result"), reply.get("error"))

    def close(self) -> None:
        """Stop the worker."""
        self._runtime.close()

    def __enter__(self) -> AdminFunction:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
