"""A function's deployed code: the zip the emulator reports for it, unpacked as Lambda unpacks it."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

from payments_cli.errors import ServeError


def deployed_zip(code_sha256: str, assets: Path) -> Path:
    """The asset whose SHA-256 is the one the emulator reports for the function's code."""
    for candidate in sorted(assets.rglob("*.zip")):
        if base64.b64encode(hashlib.sha256(candidate.read_bytes()).digest()).decode() == code_sha256:
            return candidate
    raise ServeError(
        f"the function's deployed code (CodeSha256 {code_sha256}) is not among the assets in {assets}: the "
        "deployment changed since; run `payments up` again"
    )


def extract(zip_path: Path, into: Path) -> Path:
    """Unpack the zip as Lambda does into /var/task (once per code version)."""
    task = into / zip_path.parent.name
    if not (task / ".complete").exists():
        task.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(task)
        (task / ".complete").write_text("")
    return task
