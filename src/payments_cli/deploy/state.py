"""The local target's state folder (``.payments/`` in the checkout, or $PAYMENTS_STATE_DIR) and the
records of the processes it started, so later commands can find, reuse and stop them.

A pid alone does not name a process: after a reboot (or enough process churn) the pid in a record can
belong to any other program, and ``payments down`` may run as root. So a record also keeps the
process's identity, taken from the live process when the record is written: its start time and its
command line. A process counts as the recorded one only when both still match (`same_process`);
anything else is "not ours" and is never signalled. Records written before identities were kept
(no ``create_time``) cannot confirm a live process either: see `ProcessRecord.check`.

Layout::

    .payments/
      emulator.json  emulator.log               the moto server
      postgres.json  postgres/                  the PostgreSQL cluster standing in for RDS
      deployments/<env>-<suffix>/
        deployment.json                          what was deployed, where it is served
        cdktf.out/stacks/…                       the synthesized stacks terraform works in
        bootstrap.tfstate                        the bootstrap stack's local state
        logs/                                    terraform, API server and function logs
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import psutil

from payments_infra.lambda_build import repo_root

# How far two readings of one process's start time may differ. psutil derives it from the boot time
# (whole seconds in /proc/stat) plus the start in clock ticks (1/100 s), so readings of the same
# process agree to well under a second; a clock step (settimeofday, an NTP jump) shifts them more and
# then the process is not confirmed, which only ever means "not signalled".
CREATE_TIME_TOLERANCE_S = 1.0


def state_root() -> Path:
    """Where the local target keeps everything: $PAYMENTS_STATE_DIR or ``.payments`` in the checkout."""
    explicit = os.environ.get("PAYMENTS_STATE_DIR")
    return Path(explicit).resolve() if explicit else repo_root() / ".payments"


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists and is not a zombie.

    This says nothing about *which* program holds the pid: never signal on it alone; use
    `ProcessRecord.check` (or `ProcessRecord.alive`), which confirm the process's identity.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" not in status


#: The lock every command deploying, planning or destroying holds shared while it runs (StateFolder.lock's name).
SERVICE_USERS = "services-users"


@dataclass(frozen=True)
class ProcessIdentity:
    """What tells a process from a later one with the same pid: when it started and what it runs."""

    create_time: float  # seconds since the epoch, as psutil reports it
    cmdline: tuple[str, ...]

    def describe(self) -> str:
        """``'sleep 60' (started 2025-01-31T12:00:00)``, for messages."""
        started = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(self.create_time))
        return f"'{' '.join(self.cmdline) or '?'}' (started {started})"


def same_process(
    recorded: ProcessIdentity, current: ProcessIdentity, *, tolerance_s: float = CREATE_TIME_TOLERANCE_S
) -> bool:
    """True when ``current`` is the process ``recorded`` describes: start times within the tolerance and
    the same command line. A recycled pid fails on the start time; the command line guards the rest."""
    return abs(recorded.create_time - current.create_time) <= tolerance_s and recorded.cmdline == current.cmdline


class Verdict(enum.Enum):
    """What holds a recorded pid now."""

    OURS = "ours"  # the recorded process, still running
    GONE = "gone"  # nothing (or a zombie)
    OTHER = "other"  # another process that got the pid: the recorded one is gone
    UNCONFIRMED = "unconfirmed"  # a live process the record cannot confirm or rule out


@dataclass(frozen=True)
class Sighting:
    """What `observe` found at a pid: nothing, a process it could not read, or a process's identity."""

    exists: bool
    identity: ProcessIdentity | None = None  # None when it exists but psutil was denied access


def observe(pid: int) -> Sighting:
    """The process holding ``pid`` now (a zombie counts as none: it has exited and only awaits its parent)."""
    if pid <= 0:
        return Sighting(exists=False)
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            if process.status() == psutil.STATUS_ZOMBIE:
                return Sighting(exists=False)
            identity = ProcessIdentity(float(process.create_time()), tuple(str(a) for a in process.cmdline()))
    except psutil.NoSuchProcess:  # also psutil.ZombieProcess
        return Sighting(exists=False)
    except psutil.AccessDenied:
        return Sighting(exists=True)
    return Sighting(exists=True, identity=identity)


@dataclass(frozen=True)
class ProcessCheck:
    """The verdict on a record's pid, with what holds the pid now (for messages)."""

    verdict: Verdict
    current: ProcessIdentity | None = None


@dataclass
class ProcessRecord:
    """A background process the local target started.

    ``create_time`` and ``cmdline`` are the process's identity, filled in from the live process when
    `StateFolder.write` saves a record that has none. Records from before they were kept lack them.
    """

    name: str
    pid: int
    port: int
    log: str
    started_at: float = field(default_factory=time.time)  # when the record was made (after the start)
    generation: str = ""  # identifies one run of the emulator: a new one holds no resources
    extra: dict[str, Any] = field(default_factory=dict)
    create_time: float | None = None
    cmdline: list[str] | None = None

    @property
    def identity(self) -> ProcessIdentity | None:
        """The recorded identity, or None for a record that has none."""
        if self.create_time is None or self.cmdline is None:
            return None
        return ProcessIdentity(self.create_time, tuple(self.cmdline))

    def identified(self) -> ProcessRecord:
        """This record with the identity of the process now at its pid (unchanged when it has one already,
        or when there is nothing it could be: no process, no access, or one started after the record
        was made, which cannot be the process it describes)."""
        if self.identity is not None:
            return self
        seen = observe(self.pid).identity
        if seen is None or seen.create_time > self.started_at + CREATE_TIME_TOLERANCE_S:
            return self
        return replace(self, create_time=seen.create_time, cmdline=list(seen.cmdline))

    def check(self) -> ProcessCheck:
        """Whether the recorded process is what holds the pid now.

        With an identity: OURS only when start time and command line match; a different process is
        OTHER. Without one (an old record, or the process could not be read when it was written), a
        live process started after the record was made is OTHER (it cannot be the recorded one), and
        any other live process is UNCONFIRMED: it may well be ours, but nothing proves it, so it is
        not signalled and the user is asked to stop it by hand. Unreadable processes are UNCONFIRMED.
        """
        seen = observe(self.pid)
        if not seen.exists:
            return ProcessCheck(Verdict.GONE)
        current = seen.identity
        if current is None:
            return ProcessCheck(Verdict.UNCONFIRMED)
        recorded = self.identity
        if recorded is not None:
            return ProcessCheck(Verdict.OURS if same_process(recorded, current) else Verdict.OTHER, current)
        if current.create_time > self.started_at + CREATE_TIME_TOLERANCE_S:
            return ProcessCheck(Verdict.OTHER, current)
        return ProcessCheck(Verdict.UNCONFIRMED, current)

    @property
    def alive(self) -> bool:
        """The recorded process is still running (confirmed by its identity, not by the pid alone)."""
        return self.check().verdict is Verdict.OURS


class StateFolder:
    """Paths and records under the state root."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root or state_root()

    def ensure(self) -> StateFolder:
        """Create the folder."""
        (self.root / "deployments").mkdir(parents=True, exist_ok=True)
        return self

    def record_path(self, name: str) -> Path:
        """``<root>/<name>.json``."""
        return self.root / f"{name}.json"

    def read(self, name: str) -> ProcessRecord | None:
        """A process record, or None."""
        path = self.record_path(name)
        if not path.exists():
            return None
        return ProcessRecord(**json.loads(path.read_text()))

    def write(self, record: ProcessRecord, name: str | None = None) -> None:
        """Save a record atomically, with the identity of its process (taken now, from the live pid, when
        the record has none): records are written as soon as their process is up."""
        write_json(self.record_path(name or record.name), asdict(record.identified()))

    def forget(self, name: str) -> None:
        """Remove a record."""
        self.record_path(name).unlink(missing_ok=True)

    def deployment_dir(self, environment: str, suffix: str) -> Path:
        """``deployments/<env>-<suffix>``."""
        return self.root / "deployments" / f"{environment}-{suffix}"

    def deployments(self) -> list[Path]:
        """Folders of every deployment that has a record."""
        base = self.root / "deployments"
        return sorted(p for p in base.glob("*") if (p / "deployment.json").exists()) if base.exists() else []

    def using_services(self) -> contextlib.AbstractContextManager[None]:
        """Held (shared) for as long as a command deploys, plans or destroys on the shared emulator and PostgreSQL:
        ``payments down`` of another deployment leaves them running meanwhile (:meth:`services_idle`). It waits
        only while a ``down`` is stopping them."""
        return self.lock(SERVICE_USERS, shared=True)

    @contextlib.contextmanager
    def services_idle(self) -> Iterator[bool]:
        """Whether no command is using the shared services now (True: none can start using them until the block
        ends, so they may be stopped in it)."""
        self.ensure()
        with open(self._lock_path(SERVICE_USERS), "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _lock_path(self, name: str) -> Path:
        return self.root / f".{name}.lock"

    @contextlib.contextmanager
    def lock(self, name: str = "services", *, shared: bool = False) -> Iterator[None]:
        """An exclusive lock between concurrent ``payments`` commands starting or stopping services (``shared``:
        one that any number hold at once, and that excludes the exclusive one)."""
        self.ensure()
        with open(self._lock_path(name), "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file, or None when absent."""
    return dict(json.loads(path.read_text())) if path.exists() else None
