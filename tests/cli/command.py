"""Running the real ``payments`` command as a user does: the console script of this environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

#: The console script pip installed beside this interpreter (``make`` installs the project with it).
PAYMENTS = Path(sys.executable).parent / "payments"


def payments_env(**overrides: str | None) -> dict[str, str]:
    """This process's environment without the colour variables, then ``overrides`` (None removes one)."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def payments(*args: str, cwd: Path | None = None, **env: str | None) -> subprocess.CompletedProcess[str]:
    """``payments ARGS`` in a fresh process, output captured (so stdout is a pipe, not a terminal)."""
    return subprocess.run(
        [str(PAYMENTS), *args],
        cwd=cwd,
        env=payments_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
