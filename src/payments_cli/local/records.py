"""What the local target records of a deployment on this machine: ``deployments/<env>-<suffix>/deployment.json``.

The record says what was deployed into which emulator (its generation: a restarted emulator has lost the
resources), where terraform ran, the stack's outputs, the last apply's counts and where the API is served. The
types below are the file's shape, so every module that reads a record reads the same keys (mypy checks them);
the file stays plain JSON, readable by ``jq`` and by ``payments status --json``'s consumers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NotRequired, TypedDict, cast

from payments_cli.deploy.state import read_json, write_json
from payments_cli.errors import PaymentsError


class NotDeployed(PaymentsError):
    """The deployment has no record on this machine."""


#: The record's file name in a deployment's folder.
RECORD_FILE = "deployment.json"


class ApplyCounts(TypedDict):
    """What the last apply did to the platform stack."""

    add: int
    change: int
    destroy: int


class ApiServer(TypedDict, total=False):
    """Where the deployment's API server runs; empty when it was never served."""

    pid: int
    port: int
    url: str  # http://127.0.0.1:<port>/<stage>
    log: str
    #: What the server was started from (code, emulator, PostgreSQL, outputs): a later ``up`` that changed
    #: nothing keeps a server whose fingerprint matches. Withdrawn while a deploy may change what it serves.
    fingerprint: str
    #: Only in ``start_api``'s answer: the running server was kept rather than restarted.
    kept: bool


class DeploymentRecord(TypedDict):
    """One deployment on this machine."""

    environment: str
    suffix: str
    emulator_generation: str
    emulator: str  # the emulator's endpoint
    deployed_at: float
    run_dir: str  # the synthesized stacks of the run that deployed it
    stack_dir: str
    bootstrap_dir: str
    database: str  # its database on the local PostgreSQL server
    outputs: dict[str, Any]  # the platform stack's terraform outputs
    last_apply: ApplyCounts
    api: NotRequired[ApiServer]
    #: Only in ``deploy``'s answer: whether the run changed anything the served API reads.
    changed: NotRequired[bool]
    #: Only in ``served``'s answer: whether the API server's process is alive.
    api_alive: NotRequired[bool]


def record_path(folder: Path) -> Path:
    """The record's file in a deployment's folder."""
    return folder / RECORD_FILE


def read_record(folder: Path) -> DeploymentRecord | None:
    """The deployment's record, or None when it was never deployed here."""
    data = read_json(record_path(folder))
    return cast(DeploymentRecord, data) if data is not None else None


def write_record(folder: Path, record: DeploymentRecord) -> None:
    """Write the record atomically (the answer-only keys are not kept)."""
    kept = {key: value for key, value in record.items() if key not in ("changed", "api_alive")}
    write_json(record_path(folder), kept)


def api_of(record: DeploymentRecord | None) -> ApiServer:
    """The record's API server ({} when never served)."""
    return ApiServer(**record["api"]) if record is not None and "api" in record else ApiServer()
