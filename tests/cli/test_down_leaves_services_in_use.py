"""``payments down`` of one deployment never stops the shared emulator and PostgreSQL under another command that
is deploying, planning or destroying on them (issue 26: a `down --destroy` stopped them while another suffix's `up`
was in flight, and that `up` failed).

Real services in a state folder of the test's own, the real ``payments down``, and a real second process holding
the services in use exactly as ``payments up`` does (``StateFolder.using_services``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from payments_cli.commands import up
from payments_cli.deploy.state import StateFolder
from payments_cli.local import target
from payments_cli.local.ports import port_taken
from payments_cli.local.services import ensure_emulator, ensure_postgres, postgres_for, running_emulator
from tests.cli.command import payments

pytestmark = pytest.mark.timeout(300)

#: A process that holds the services in use (as `payments up` does while it deploys) until its stdin closes.
HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from payments_cli.deploy.state import StateFolder

    with StateFolder(Path(sys.argv[1])).using_services():
        print("holding", flush=True)
        sys.stdin.read()
    """
)


def test_down_leaves_services_another_command_is_using_and_stops_them_once_it_is_done(tmp_path: Path) -> None:
    state = StateFolder(tmp_path / "state")
    emulator, _ = ensure_emulator(state)
    postgres, _ = ensure_postgres(state)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(state.root)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        # Another deployment's down, with nothing served: before the fix it stopped both services here.
        result = payments("down", "--suffix", "other", PAYMENTS_STATE_DIR=str(state.root))
        assert result.returncode == 0, result.stderr
        assert "left the emulator and PostgreSQL running" in result.stderr
        assert "another payments command is deploying" in result.stderr
        assert running_emulator(state) is not None and port_taken(emulator.port)
        assert postgres_for(state).is_running()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    # The command finished: the next down stops them, as before.
    result = payments("down", "--suffix", "other", PAYMENTS_STATE_DIR=str(state.root))
    assert result.returncode == 0, result.stderr
    assert "stopped moto server" in result.stdout and "stopped PostgreSQL" in result.stdout, result.stdout
    assert running_emulator(state) is None and not postgres.is_running()


def test_every_command_that_deploys_plans_or_destroys_holds_the_services_in_use() -> None:
    """The local target's entry points run under ``using_services``; `up` holds them until its API server runs."""
    for command in (target.deploy, target.plan, target.bootstrap_only, target.destroy, target.account_stack):
        assert command.__code__ is target.using_services(lambda state: None).__code__, command.__name__
    source = Path(up.__file__).read_text()
    held = source.index("with state.using_services():")
    assert held < source.index("target.deploy(") < source.index("api_process.start_api(")
