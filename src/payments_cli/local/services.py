"""Starting, reusing and stopping the local target's background services: the moto server and the
PostgreSQL server. Both are tracked by records in the state folder and outlive the command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass

from payments_cli.local.emulator import EMULATOR_CREDENTIALS, emulator_client
from payments_cli.local.ports import free_port, wait_for_port
from payments_cli.local.postgres import LocalPostgres
from payments_cli.local.state import ProcessRecord, StateFolder, pid_alive

EMULATOR = "emulator"
POSTGRES = "postgres"


class ServiceError(RuntimeError):
    """A service could not be started or reached; the message says what to do."""


@dataclass(frozen=True)
class Emulator:
    """A running moto server."""

    endpoint: str
    port: int
    pid: int
    generation: str

    def client(self, service: str) -> object:
        """A boto3 client on the emulator."""
        return emulator_client(self.endpoint, service)


def _answers(port: int) -> bool:
    try:
        wait_for_port(port, timeout_s=0.5, what="service")
    except TimeoutError:
        return False
    return True


def running_emulator(state: StateFolder) -> Emulator | None:
    """The emulator a previous command started, if it is still up."""
    record = state.read(EMULATOR)
    if record is None or not record.alive or not _answers(record.port):
        return None
    return Emulator(f"http://127.0.0.1:{record.port}", record.port, record.pid, record.generation)


def ensure_emulator(state: StateFolder) -> tuple[Emulator, bool]:
    """The running emulator, or a new one; True when it was started now (it then holds no resources)."""
    with state.lock():
        existing = running_emulator(state)
        if existing is not None:
            return existing, False
        port = free_port()
        log = state.root / "emulator.log"
        env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true", **EMULATOR_CREDENTIALS}
        with open(log, "ab") as out:
            process = subprocess.Popen(  # noqa: S603
                [sys.executable, "-m", "payments_cli.local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,  # keeps running after this command exits
            )
        try:
            wait_for_port(port, timeout_s=60, what="the moto server")
        except TimeoutError as error:
            process.kill()
            raise ServiceError(f"{error}; see {log}") from None
        record = ProcessRecord(EMULATOR, process.pid, port, str(log), generation=uuid.uuid4().hex)
        state.write(record)
        return Emulator(f"http://127.0.0.1:{port}", port, process.pid, record.generation), True


def postgres_for(state: StateFolder) -> LocalPostgres:
    """The state folder's PostgreSQL cluster, on its recorded port (or a new free one)."""
    record = state.read(POSTGRES)
    return LocalPostgres(state.root / "postgres" / "data", port=record.port if record else 0)


def ensure_postgres(state: StateFolder) -> tuple[LocalPostgres, bool]:
    """The running PostgreSQL server, or a started one; its data persists between runs."""
    with state.lock():
        postgres = postgres_for(state)
        if postgres.is_running() and _answers(postgres.port):
            return postgres, False
        if postgres.is_running():  # running, but not answering on the recorded port: restart cleanly
            postgres.stop()
        if _answers(postgres.port):
            postgres.port = free_port()  # the recorded port is taken by something else
        postgres.init()
        postgres.start()
        pid_file = postgres.data_dir / "postmaster.pid"
        pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else 0
        state.write(ProcessRecord(POSTGRES, pid, postgres.port, str(postgres.data_dir / "server.log")))
        return postgres, True


def stop_process(record: ProcessRecord, *, timeout_s: float = 10) -> bool:
    """Stop a recorded process (its whole session); True if it was running."""
    if not pid_alive(record.pid):
        return False
    try:
        os.killpg(record.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and pid_alive(record.pid):
        time.sleep(0.1)
    if pid_alive(record.pid):
        os.killpg(record.pid, signal.SIGKILL)
    return True


def stop_services(state: StateFolder) -> list[str]:
    """Stop the emulator and PostgreSQL; the names of those that were running."""
    stopped = []
    with state.lock():
        record = state.read(EMULATOR)
        if record is not None:
            if stop_process(record):
                stopped.append(f"moto server (pid {record.pid}, port {record.port})")
            state.forget(EMULATOR)
        postgres = postgres_for(state)
        if (postgres.data_dir / "PG_VERSION").exists() and postgres.is_running():
            postgres.stop()
            stopped.append(f"PostgreSQL (port {postgres.port}, data kept in {postgres.data_dir})")
    return stopped
