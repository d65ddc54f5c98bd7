"""Find a CPython matching the Lambda function's runtime, to execute the built zip locally."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from payments_cli.errors import PaymentsError


class RuntimeNotFound(PaymentsError):
    """No interpreter for the function's runtime is installed."""


def find_python(version: str = "3.12") -> Path:
    """A real CPython ``version`` binary (not a pyenv shim, which refuses when the version is not selected).

    Looks at $PAYMENTS_LAMBDA_PYTHON, pyenv's installed versions, then PATH.
    """
    candidates: list[str] = []
    if os.environ.get("PAYMENTS_LAMBDA_PYTHON"):
        candidates.append(os.environ["PAYMENTS_LAMBDA_PYTHON"])
    pyenv_root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{pyenv_root}/versions/{version}*/bin/python{version}"), reverse=True)
    candidates += [f"/usr/bin/python{version}", f"/usr/local/bin/python{version}"]
    on_path = shutil.which(f"python{version}")
    if on_path and "/shims/" not in on_path:
        candidates.append(on_path)
    for candidate in candidates:
        if Path(candidate).is_file() and _reports(candidate, version):
            return Path(candidate)
    raise RuntimeNotFound(
        f"CPython {version}, the Lambda function's runtime, is not installed: install it "
        f"(`pyenv install {version}` or `apt-get install python{version}`) or point "
        "PAYMENTS_LAMBDA_PYTHON at its binary"
    )


def _reports(binary: str, version: str) -> bool:
    try:
        out = subprocess.run(  # noqa: S603
            [binary, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
    except OSError:
        return False
    return out.stdout.strip() == version
