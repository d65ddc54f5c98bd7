"""A process record names its process by pid *and* identity (start time, command line), so stopping the
local target never signals a process that only inherited a recorded pid (after a reboot, say).

These tests start real processes (``sleep`` in a new session, like the detached services) and signal
them through the real code; a recycled pid is simulated by a record that carries the pid of another
live process but a different recorded identity.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from payments_cli.deploy.state import (
    CREATE_TIME_TOLERANCE_S,
    ProcessIdentity,
    ProcessRecord,
    StateFolder,
    Verdict,
    observe,
    same_process,
    write_json,
)
from payments_cli.local.services import EMULATOR, stop_process, stop_services

MOTO = ("python", "-m", "payments_cli.local.moto_server", "-H", "127.0.0.1", "-p", "5000")


# The comparison ---------------------------------------------------------------------------------


def test_the_same_start_time_and_command_is_the_same_process() -> None:
    recorded = ProcessIdentity(1_700_000_000.25, MOTO)
    assert same_process(recorded, ProcessIdentity(1_700_000_000.25, MOTO))


def test_start_times_within_the_tolerance_match() -> None:
    recorded = ProcessIdentity(1_700_000_000.0, MOTO)
    assert same_process(recorded, ProcessIdentity(1_700_000_000.0 + CREATE_TIME_TOLERANCE_S, MOTO))
    assert same_process(recorded, ProcessIdentity(1_700_000_000.0 - CREATE_TIME_TOLERANCE_S, MOTO))


def test_a_later_or_earlier_start_is_another_process() -> None:
    recorded = ProcessIdentity(1_700_000_000.0, MOTO)
    assert not same_process(recorded, ProcessIdentity(1_700_000_000.0 + CREATE_TIME_TOLERANCE_S + 0.01, MOTO))
    assert not same_process(recorded, ProcessIdentity(1_700_000_000.0 - 3600, MOTO))


def test_another_command_is_another_process_even_at_the_same_start() -> None:
    recorded = ProcessIdentity(1_700_000_000.0, MOTO)
    assert not same_process(recorded, ProcessIdentity(1_700_000_000.0, ("sleep", "60")))
    assert not same_process(recorded, ProcessIdentity(1_700_000_000.0, MOTO[:-1]))
    assert not same_process(recorded, ProcessIdentity(1_700_000_000.0, ()))


def test_the_tolerance_can_be_given() -> None:
    recorded = ProcessIdentity(100.0, MOTO)
    assert same_process(recorded, ProcessIdentity(105.0, MOTO), tolerance_s=5)
    assert not same_process(recorded, ProcessIdentity(100.5, MOTO), tolerance_s=0.1)


def test_a_record_reads_back_its_identity_and_old_records_have_none(tmp_path: Path) -> None:
    state = StateFolder(tmp_path)
    write_json(state.record_path("old"), {"name": "old", "pid": 1234, "port": 1, "log": "x", "started_at": 5.0})
    old = state.read("old")
    assert old is not None and old.identity is None
    new = ProcessRecord("new", 1234, 1, "x", create_time=7.5, cmdline=list(MOTO))
    assert new.identity == ProcessIdentity(7.5, MOTO)


# Real processes ---------------------------------------------------------------------------------

Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Start detached processes (a new session, like the services); whatever a test leaves is killed."""
    started: list[subprocess.Popen[bytes]] = []

    def started_with_its_command_line(pid: int) -> bool:
        identity = observe(pid).identity
        return bool(identity and identity.cmdline)

    def start(*argv: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(argv or ("sleep", "60"), stdin=subprocess.DEVNULL, start_new_session=True)
        started.append(process)
        _wait_for(lambda: started_with_its_command_line(process.pid))
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _recorded(state: StateFolder, name: str, pid: int, **fields: object) -> ProcessRecord:
    """Write a record as the services do (or, with fields, as a given old or stale one) and read it back."""
    if fields:
        write_json(state.record_path(name), {"name": name, "pid": pid, "port": 0, "log": "x", **fields})
    else:
        state.write(ProcessRecord(name, pid, 0, "x"))
    record = state.read(name)
    assert record is not None
    return record


def test_writing_a_record_takes_the_identity_of_the_live_process(tmp_path: Path, spawn: Spawn) -> None:
    process = spawn("sleep", "60")
    record = _recorded(StateFolder(tmp_path), "sleeper", process.pid)
    assert record.cmdline == ["sleep", "60"]
    assert record.create_time == pytest.approx(psutil.Process(process.pid).create_time(), abs=0.01)
    assert record.check().verdict is Verdict.OURS and record.alive


def test_stop_process_stops_our_process_and_its_session(tmp_path: Path, spawn: Spawn) -> None:
    leader = spawn("sh", "-c", "sleep 61 & wait")
    _wait_for(lambda: bool(psutil.Process(leader.pid).children()))
    child = psutil.Process(leader.pid).children()[0]
    record = _recorded(StateFolder(tmp_path), "sleeper", leader.pid)
    notices: list[str] = []

    assert stop_process(record, timeout_s=5, notice=notices.append) is True

    assert leader.wait(timeout=5) < 0  # ended by a signal
    _wait_for(lambda: not observe(child.pid).exists)  # the group was signalled, not just the leader
    assert notices == []
    assert not record.alive


def test_a_recycled_pid_with_another_start_time_is_not_signalled(tmp_path: Path, spawn: Spawn) -> None:
    """The pid now belongs to an unrelated process: same pid, but it started an hour after the record's."""
    unrelated = spawn("sleep", "60")
    start = psutil.Process(unrelated.pid).create_time()
    record = _recorded(
        StateFolder(tmp_path),
        "emulator",
        unrelated.pid,
        started_at=start - 3590,
        create_time=start - 3600,
        cmdline=list(MOTO),
    )
    notices: list[str] = []

    assert record.check().verdict is Verdict.OTHER and not record.alive
    assert stop_process(record, timeout_s=1, notice=notices.append) is False

    time.sleep(0.3)
    assert unrelated.poll() is None  # still running: never signalled
    [notice] = notices
    assert f"pid {unrelated.pid}" in notice and "is gone" in notice and "'sleep 60'" in notice


def test_a_pid_running_another_command_is_not_signalled(tmp_path: Path, spawn: Spawn) -> None:
    """Same pid and start time, another program: not ours either."""
    unrelated = spawn("sleep", "60")
    start = psutil.Process(unrelated.pid).create_time()
    record = _recorded(StateFolder(tmp_path), "emulator", unrelated.pid, create_time=start, cmdline=list(MOTO))
    notices: list[str] = []

    assert stop_process(record, timeout_s=1, notice=notices.append) is False

    time.sleep(0.3)
    assert unrelated.poll() is None
    assert len(notices) == 1 and "is gone" in notices[0]


def test_an_old_record_without_identity_never_signals_a_live_process(tmp_path: Path, spawn: Spawn) -> None:
    """It may be ours, but nothing proves it: left running, and the user is told how to stop it."""
    process = spawn("sleep", "60")
    record = _recorded(StateFolder(tmp_path), "emulator", process.pid, started_at=time.time() + 5)
    notices: list[str] = []

    assert record.check().verdict is Verdict.UNCONFIRMED and not record.alive
    assert stop_process(record, timeout_s=1, notice=notices.append) is False

    time.sleep(0.3)
    assert process.poll() is None
    [notice] = notices
    assert f"kill {process.pid}" in notice and "'sleep 60'" in notice and "older payments" in notice


def test_an_old_record_is_not_a_process_started_after_it(tmp_path: Path, spawn: Spawn) -> None:
    """A process younger than the record cannot be the one it describes: the recorded one is gone."""
    process = spawn("sleep", "60")
    start = psutil.Process(process.pid).create_time()
    record = _recorded(StateFolder(tmp_path), "emulator", process.pid, started_at=start - 3600)
    notices: list[str] = []

    assert record.check().verdict is Verdict.OTHER
    assert stop_process(record, timeout_s=1, notice=notices.append) is False
    assert process.poll() is None
    assert len(notices) == 1 and "is gone" in notices[0]


def test_rewriting_an_old_record_does_not_adopt_a_younger_process(tmp_path: Path, spawn: Spawn) -> None:
    process = spawn("sleep", "60")
    state = StateFolder(tmp_path)
    start = psutil.Process(process.pid).create_time()
    old = _recorded(state, "emulator", process.pid, started_at=start - 3600)
    state.write(old)
    assert json.loads(state.record_path("emulator").read_text())["create_time"] is None


def test_a_dead_pid_is_reported_gone(tmp_path: Path, spawn: Spawn) -> None:
    process = spawn("sleep", "60")
    record = _recorded(StateFolder(tmp_path), "sleeper", process.pid)
    process.kill()
    process.wait(timeout=5)
    notices: list[str] = []

    assert record.check().verdict is Verdict.GONE and not record.alive
    assert stop_process(record, timeout_s=1, notice=notices.append) is False
    assert notices == []


def test_a_zombie_is_gone(tmp_path: Path, spawn: Spawn) -> None:
    """A process that exited but was not reaped yet is not running: nothing to stop."""
    process = spawn("sleep", "60")
    record = _recorded(StateFolder(tmp_path), "sleeper", process.pid)
    psutil.Process(process.pid).kill()  # not reaped: a zombie until the fixture waits for it
    _wait_for(lambda: psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE)

    assert record.check().verdict is Verdict.GONE
    notices: list[str] = []
    assert stop_process(record, timeout_s=1, notice=notices.append) is False


def test_stop_services_leaves_a_recycled_emulator_pid_alone(tmp_path: Path, spawn: Spawn) -> None:
    unrelated = spawn("sleep", "60")
    start = psutil.Process(unrelated.pid).create_time()
    state = StateFolder(tmp_path).ensure()
    _recorded(state, EMULATOR, unrelated.pid, create_time=start - 86_400, cmdline=[sys.executable, *MOTO[1:]])
    notices: list[str] = []

    assert stop_services(state, notice=notices.append) == []

    assert unrelated.poll() is None
    assert state.read(EMULATOR) is None  # the stale record is forgotten
    assert len(notices) == 1 and f"pid {unrelated.pid}" in notices[0]


def test_payments_down_says_so_on_stderr(
    tmp_path: Path, spawn: Spawn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where the user sees it: ``payments down --all`` explains the pid it left alone, and exits 0."""
    from payments_cli.main import main

    unrelated = spawn("sleep", "60")
    start = psutil.Process(unrelated.pid).create_time()
    monkeypatch.setenv("PAYMENTS_STATE_DIR", str(tmp_path))
    _recorded(StateFolder(tmp_path).ensure(), EMULATOR, unrelated.pid, create_time=start - 60, cmdline=list(MOTO))

    assert main(["down", "--all"]) == 0

    assert unrelated.poll() is None
    captured = capsys.readouterr()
    assert "stopped" not in captured.out
    assert f"the recorded emulator process (pid {unrelated.pid}) is gone" in captured.err
