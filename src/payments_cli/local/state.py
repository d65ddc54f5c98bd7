"""The local target's state folder (``.payments/`` in the checkout, or $PAYMENTS_STATE_DIR) and the
records of the processes it started, so later commands can find, reuse and stop them.

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
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from payments_infra.lambda_build import repo_root


def state_root() -> Path:
    """Where the local target keeps everything: $PAYMENTS_STATE_DIR or ``.payments`` in the checkout."""
    explicit = os.environ.get("PAYMENTS_STATE_DIR")
    return Path(explicit).resolve() if explicit else repo_root() / ".payments"


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists and is not a zombie."""
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


@dataclass
class ProcessRecord:
    """A background process the local target started."""

    name: str
    pid: int
    port: int
    log: str
    started_at: float = field(default_factory=time.time)
    generation: str = ""  # identifies one run of the emulator: a new one holds no resources
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        """The process is still running."""
        return pid_alive(self.pid)


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
        """Save a record atomically."""
        write_json(self.record_path(name or record.name), asdict(record))

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

    @contextlib.contextmanager
    def lock(self, name: str = "services") -> Iterator[None]:
        """An exclusive lock between concurrent ``payments`` commands starting or stopping services."""
        self.ensure()
        with open(self.root / f".{name}.lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
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
