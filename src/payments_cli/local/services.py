"""Starting, reusing and stopping the local target's background services: the moto server and the
PostgreSQL server. Both are tracked by records in the state folder and outlive the command."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from payments_cli.deploy.state import ProcessCheck, ProcessRecord, StateFolder, Verdict
from payments_cli.errors import PaymentsError
from payments_cli.local.emulator import EMULATOR_CREDENTIALS, emulator_client
from payments_cli.local.ports import free_port, wait_for_port
from payments_cli.local.postgres import LocalPostgres

EMULATOR = "emulator"
POSTGRES = "postgres"


class ServiceError(PaymentsError):
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


def stderr_notice(line: str) -> None:
    """Default for ``notice``: one line on stderr, where ``payments down`` users see it."""
    print(line, file=sys.stderr, flush=True)


def _not_signalled(record: ProcessRecord, check: ProcessCheck) -> str:
    """Why the process at a record's pid was left alone, and what the user can do."""
    running = check.current.describe() if check.current is not None else "a process payments cannot inspect"
    if check.verdict is Verdict.OTHER:
        return (
            f"payments: the recorded {record.name} process (pid {record.pid}) is gone; that pid now belongs to "
            f"another process, {running}, which was left alone"
        )
    why = (
        "its record was written without the process's start time and command (by an older payments)"
        if record.identity is None
        else "payments cannot read its start time and command"
    )
    return (
        f"payments: pid {record.pid}, recorded for {record.name}, runs {running}, but {why}, so it cannot be "
        f"confirmed to be the process payments started and was not signalled; if it is, stop it by hand: "
        f"kill {record.pid}"
    )


def _signal(pid: int, signum: signal.Signals) -> None:
    """Signal our process's whole group when it leads one (detached services start a new session, and
    their children are in it), else the process alone."""
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
            return
    except (ProcessLookupError, PermissionError):
        pass
    os.kill(pid, signum)


def stop_process(
    record: ProcessRecord, *, timeout_s: float = 10, notice: Callable[[str], None] = stderr_notice
) -> bool:
    """Stop a recorded process (its whole session); True if it was running.

    Only the process the record describes is signalled: its start time and command line must match
    the record (`ProcessRecord.check`) before SIGTERM and again before SIGKILL, so a pid recycled since
    (after a reboot, say) is never touched. A pid held by another process means the recorded one is
    gone (False); a live process the record cannot confirm (a record without identity, written by an
    older payments) is left running too (False). Both cases are explained through ``notice``, with
    the pid and command, so the user can stop a leftover by hand.
    """
    check = record.check()
    if check.verdict is Verdict.GONE:
        return False
    if check.verdict is not Verdict.OURS:
        notice(_not_signalled(record, check))
        return False
    try:
        _signal(record.pid, signal.SIGTERM)
    except ProcessLookupError:
        return True  # exited between the check and the signal
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and record.alive:
        time.sleep(0.1)
    if record.alive:  # still ours (checked again: the pid may have been reused while we waited)
        with contextlib.suppress(ProcessLookupError):
            _signal(record.pid, signal.SIGKILL)
    return True


def stop_services(state: StateFolder, *, notice: Callable[[str], None] = stderr_notice) -> list[str]:
    """Stop the emulator and PostgreSQL; the names of those that were running. A recorded pid that is
    not the emulator any more is left alone and explained through ``notice`` (see `stop_process`).

    Nothing is stopped while another command deploys, plans or destroys on them (it holds
    ``StateFolder.using_services``): that is said through ``notice``, and the last of them to finish leaves
    them running for the next ``payments down``."""
    stopped: list[str] = []
    with state.services_idle() as idle, state.lock():
        if not idle:
            notice(
                "left the emulator and PostgreSQL running: another payments command is deploying, planning or "
                "destroying on them (run `payments down` again once it has finished)"
            )
            return stopped
        record = state.read(EMULATOR)
        if record is not None:
            if stop_process(record, notice=notice):
                stopped.append(f"moto server (pid {record.pid}, port {record.port})")
            state.forget(EMULATOR)
        postgres = postgres_for(state)
        if (postgres.data_dir / "PG_VERSION").exists() and postgres.is_running():
            postgres.stop()
            stopped.append(f"PostgreSQL (port {postgres.port}, data kept in {postgres.data_dir})")
    return stopped
