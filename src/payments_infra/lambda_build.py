"""The deterministic Lambda package: the processor and its pinned runtime dependencies in one zip.

Dependencies are the exact pins of ``requirements/lambda.txt``, installed as the wheels built for
the Lambda platform (manylinux x86_64, CPython 3.12), not for the machine doing the build. Entries
are sorted, timestamps fixed and modes normalised, so two builds from two checkouts are
byte-identical and ``source_code_hash`` changes only when the code or a pin does.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

#: The handler the function is configured with; the build refuses a zip without its module.
HANDLER = "payment_processor.handler.handler"
LAMBDA_PYTHON = "3.12"
LAMBDA_PLATFORM = "manylinux2014_x86_64"
# Zip's epoch (1980-01-01): any fixed stamp works, this one is valid in every zip reader.
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# Not needed at run time and not reproducible (console-script shebangs name the build machine's Python).
_SKIPPED_DIRS = {"__pycache__", "bin"}
_SKIPPED_FILES = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}


def repo_root() -> Path:
    """The checkout this module lives in (src/payments_infra/ -> root)."""
    return Path(__file__).resolve().parents[2]


class BuildError(RuntimeError):
    """The package could not be built; the message says why and what to do."""


@dataclass(frozen=True)
class LambdaPackage:
    """A built zip and the hash Lambda compares (base64 of its SHA-256)."""

    path: Path
    source_code_hash: str
    size: int


def source_code_hash(path: Path) -> str:
    """Base64-encoded SHA-256 of a file, as Terraform's filebase64sha256() and Lambda's CodeSha256."""
    digest = hashlib.sha256(path.read_bytes()).digest()
    return base64.b64encode(digest).decode("ascii")


def install_dependencies(target: Path, requirements: Path) -> None:
    """Install the pinned wheels for the Lambda platform into ``target`` (no dependency resolution:
    the lock file already lists every transitive package)."""
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--target", str(target), "--no-deps", "--no-compile",
        "--platform", LAMBDA_PLATFORM, "--implementation", "cp", "--python-version", LAMBDA_PYTHON,
        "--only-binary=:all:", "-r", str(requirements),
    ]  # fmt: skip
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BuildError(
            f"could not install the Lambda dependencies from {requirements} for CPython {LAMBDA_PYTHON} "
            f"{LAMBDA_PLATFORM}: {result.stderr.strip()[-1500:]}\n"
            "Check the network reaches PyPI and that every pin has a wheel for that platform."
        )


def write_zip(staging: Path, out: Path) -> None:
    """Zip ``staging`` deterministically into ``out``."""
    files = []
    for root, dirs, names in os.walk(staging):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        for name in names:
            if name in _SKIPPED_FILES or name.endswith(".pyc"):
                continue
            files.append(Path(root, name))
    out.parent.mkdir(parents=True, exist_ok=True)
    # A temporary name of this process's own: two deploys building at once each write their own file and
    # the last rename wins (the same bytes, the build is deterministic) instead of one renaming the other's.
    tmp = out.with_suffix(f".zip.{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(files, key=lambda p: p.relative_to(staging).as_posix()):
            info = zipfile.ZipInfo(path.relative_to(staging).as_posix(), date_time=_FIXED_TIME)
            executable = os.access(path, os.X_OK) and path.suffix == ".so"
            info.external_attr = ((0o755 if executable else 0o644) | 0o100000) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, whatever the build machine is
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(out)


def check_package(path: Path, handler: str = HANDLER) -> None:
    """Refuse a missing zip, a placeholder, or one without the handler's module (defect 8 of the seed)."""
    if not path.is_file():
        raise BuildError(f"Lambda package {path} does not exist; build it with `payments build`")
    if not zipfile.is_zipfile(path):
        raise BuildError(f"Lambda package {path} is not a zip file (a placeholder?)")
    module = handler.rsplit(".", 1)[0].replace(".", "/") + ".py"
    with zipfile.ZipFile(path) as archive:
        if module not in archive.namelist():
            raise BuildError(f"Lambda package {path} has no {module}: the handler {handler} cannot load")


#: Bump when the zip's layout changes, so packages cached by an older build are not reused.
BUILD_FORMAT = "1"


def inputs_digest(root: Path) -> str:
    """SHA-256 over everything a build depends on: the lock file, the processor's files, the target
    platform. Builds are deterministic, so equal inputs mean an equal zip."""
    digest = hashlib.sha256(f"{BUILD_FORMAT}|{LAMBDA_PLATFORM}|{LAMBDA_PYTHON}".encode())
    files = [root / "requirements" / "lambda.txt"]
    source = root / "src" / "payment_processor"
    files += sorted(p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_lambda_package(out: Path, *, root: Path | None = None, reuse: bool = False) -> LambdaPackage:
    """Build the processor's Lambda zip at ``out`` and return it with its hash.

    ``reuse``: keep an existing zip built from the same inputs (``<zip>.inputs`` records them).
    """
    root = root or repo_root()
    requirements = root / "requirements" / "lambda.txt"
    source = root / "src" / "payment_processor"
    if not requirements.is_file() or not source.is_dir():
        raise BuildError(f"{root} is not a checkout of this project (no requirements/lambda.txt or src/)")
    stamp = out.with_name(out.name + ".inputs")
    digest = inputs_digest(root)
    if reuse and out.is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
        check_package(out)
        return LambdaPackage(out, source_code_hash(out), out.stat().st_size)
    stamp.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="lambda-build-") as folder:
        staging = Path(folder)
        install_dependencies(staging, requirements)
        shutil.copytree(source, staging / "payment_processor", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        write_zip(staging, out)
    check_package(out)
    stamp.write_text(digest + "\n")
    return LambdaPackage(out, source_code_hash(out), out.stat().st_size)
