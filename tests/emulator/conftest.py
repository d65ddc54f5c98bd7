"""The emulator tier: the real `payments` command deploying to a moto server with the real terraform,
in a state folder of the test session's own. Every process it starts is stopped at the end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class Cli:
    """Runs `payments` against one state folder."""

    state_dir: Path

    @property
    def env(self) -> dict[str, str]:
        """The environment every run gets."""
        return {**os.environ, "PAYMENTS_STATE_DIR": str(self.state_dir)}

    def command(self, *args: str) -> list[str]:
        """The argv of one run."""
        return [sys.executable, "-m", "payments_cli.main", *args]

    def run(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        """Run to completion, capturing output."""
        return subprocess.run(
            self.command(*args), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start without waiting."""
        return subprocess.Popen(
            self.command(*args), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    def record(self, suffix: str, environment: str = "dev") -> dict[str, object]:
        """The deployment's record."""
        return dict(
            json.loads((self.state_dir / "deployments" / f"{environment}-{suffix}" / "deployment.json").read_text())
        )


@pytest.fixture(scope="session")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """One state folder for the tier (one emulator, one PostgreSQL, deployments shared between modules);
    everything started in it is stopped at the end of the session."""
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

    from payments_cli.local.postgres import LocalPostgres
    from payments_cli.local.state import StateFolder

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
def alpha(cli: Cli) -> dict[str, object]:
    """The dev/alpha deployment, served: deployed by the first test that needs it (one `up` per session)."""
    folder = cli.state_dir / "deployments" / "dev-alpha" / "deployment.json"
    if not folder.exists():
        result = cli.run("up", "--suffix", "alpha")
        assert result.returncode == 0, result.stderr[-4000:]
    return cli.record("alpha")
