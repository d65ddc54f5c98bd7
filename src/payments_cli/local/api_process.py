"""A deployment's API server as a process of its own: started in the background from the deployment's record (or
kept, when nothing it reads has changed), stopped, and listed with whether it is alive."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from payments_cli.deploy.state import ProcessRecord, StateFolder
from payments_cli.local.ports import free_port, port_taken, wait_for_port
from payments_cli.local.records import ApiServer, DeploymentRecord, NotDeployed, api_of, read_record, write_record
from payments_cli.local.services import postgres_for, stop_process


def api_record(state: StateFolder, environment: str, suffix: str) -> ApiServer:
    """The deployment's API server record ({} when never served)."""
    return api_of(read_record(state.deployment_dir(environment, suffix)))


def _serving_fingerprint(state: StateFolder, record: DeploymentRecord) -> str:
    """What a running API server was started from, beyond the deployment itself: the local target's own
    code, the emulator and PostgreSQL it talks to, the deployment's outputs, and the one setting the server
    reads from its environment (whether it runs the schedules; the functions' environment is the deployed
    one, not the caller's)."""
    import hashlib

    import payments_cli
    from payments_cli.local.serve import schedules_enabled

    digest = hashlib.sha256()
    for path in sorted(Path(payments_cli.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    postgres = postgres_for(state)
    serving = [record["emulator"], postgres.port, record["outputs"], schedules_enabled()]
    digest.update(json.dumps(serving, sort_keys=True).encode())
    return digest.hexdigest()


def start_api(
    state: StateFolder,
    environment: str,
    suffix: str,
    *,
    port: int = 0,
    timeout_s: float = 90,
    keep_unchanged: bool = False,
) -> ApiServer:
    """(Re)start the deployment's API server in the background; its record once it answers.

    ``keep_unchanged``: after a deploy that changed nothing, the running server is kept if it was started
    from the same code, emulator, PostgreSQL and outputs (what it read at start is then what it would read
    again); its record says ``"kept": true``.
    """
    folder = state.deployment_dir(environment, suffix)
    record = read_record(folder)
    if record is None:
        raise NotDeployed(f"{environment}/{suffix} is not deployed on this machine: run `payments up` first")
    previous = api_of(record)
    fingerprint = _serving_fingerprint(state, record)
    running = state.read(f"api-{environment}-{suffix}")
    if (
        keep_unchanged
        and running is not None
        and running.alive
        and previous.get("fingerprint") == fingerprint
        and port in (0, previous.get("port"))
    ):
        return ApiServer(**previous, kept=True)
    stop_api(state, environment, suffix)
    port = port or int(previous.get("port") or 0) or free_port()
    if port_taken(port):
        port = free_port()  # the old port is taken by something else now
    log = folder / "logs" / "api.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "payments_cli.main",
                "serve",
                "--env",
                environment,
                "--suffix",
                suffix,
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"the API server for {environment}/{suffix} exited at start:\n{tail}")
        try:
            wait_for_port(port, timeout_s=0.5, what="the API server")
            break
        except TimeoutError:
            continue
    else:
        process.kill()
        raise RuntimeError(
            f"the API server for {environment}/{suffix} did not answer within {timeout_s:.0f}s; see {log}"
        )
    stage = record["outputs"].get("stage", "v1")
    api = ApiServer(
        pid=process.pid, port=port, url=f"http://127.0.0.1:{port}/{stage}", log=str(log), fingerprint=fingerprint
    )
    record["api"] = api
    write_record(folder, record)
    state.write(ProcessRecord(f"api-{environment}-{suffix}", process.pid, port, str(log)))
    return api


def stop_api(state: StateFolder, environment: str, suffix: str) -> bool:
    """Stop the deployment's API server; True if it was running."""
    name = f"api-{environment}-{suffix}"
    record = state.read(name)
    state.forget(name)
    return record is not None and stop_process(record)


def served(state: StateFolder) -> list[DeploymentRecord]:
    """Every deployment record, with whether its API server is alive."""
    found = []
    for folder in state.deployments():
        record = read_record(folder)
        if record is None:
            continue  # destroyed since it was listed
        api = api_of(record)
        # By the process record's identity (start time, command), not the pid alone: a recycled pid
        # would otherwise pass for a running API server.
        process = state.read(f"api-{record['environment']}-{record['suffix']}")
        record["api_alive"] = bool(api.get("pid")) and process is not None and process.alive
        found.append(record)
    return found
