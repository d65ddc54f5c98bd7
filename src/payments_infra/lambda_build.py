"""The deterministic Lambda package: the processor and its pinned runtime dependencies in one zip.

Dependencies are the exact pins of ``requirements/lambda.txt``, installed as the wheels built for
the Lambda platform (manylinux x86_64, CPython 3.12), not for the machine doing the build. Entries
are sorted, timestamps fixed and modes normalised, so two builds from two checkouts are
byte-identical and ``source_code_hash`` changes only when the code or a pin does.

Every module is shipped compiled too: Lambda's ``/var/task`` is read-only, so without ``__pycache__`` in
the zip every cold start compiles every module it imports again (1.5-2 s for this handler). The ``.pyc``
are compiled by the runtime's own CPython (bytecode is version-specific) and hash-based (PEP 552): they
hold no source mtime, so they are as reproducible as the rest of the zip.

botocore's data is shipped for SDK_SERVICES only (the services the processor uses), as botocore has it; the
Stripe library's ``stripe/params`` (PRUNED) not at all.
"""

from __future__ import annotations

import base64
import functools
import glob
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
_SKIPPED_DIRS = {"bin"}
#: The AWS services whose botocore data (``botocore/data/<service>/``: models, endpoint rules) the zip carries:
#: the ones the processor calls (``payment_processor.aws.client``) and the ones botocore's credential
#: providers use for role, web-identity and SSO profiles (on Lambda the credentials are environment
#: variables, which need none; a ``login_session`` profile's ``signin`` is left out). Without the other
#: ~440, the first client no longer lists and stats every service's folder (twice per session, to check the
#: name it is given: ~40 ms of the first request, measured with bench/cold_start_bench.py), and the zip is
#: smaller. The files kept are botocore's own, byte for byte; asking for any other service fails with
#: botocore's UnknownServiceError, at once and by name.
SDK_SERVICES = ("kms", "s3", "secretsmanager", "sqs", "sso", "sso-oidc", "sts")
_SDK_DATA = "botocore/data"
#: The only bytecode the zip carries: what compile_tree wrote for the Lambda runtime's CPython.
PYC_TAG = f"cpython-{LAMBDA_PYTHON.replace('.', '')}"
_SKIPPED_FILES = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}
#: Folders of the pinned dependencies the zip leaves out, each because no module of the zip imports it at run
#: time (tests/infra/test_package_contents.py proves it on every build: an import of one outside ``if
#: TYPE_CHECKING:`` fails the test). ``stripe/params``: the request parameters' TypedDicts, 1,684 modules read by
#: type checkers only, 2.1 of the zip's 19.8 MB and a third of what every build compiles.
PRUNED = ("stripe/params",)


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
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--no-deps",
        "--no-compile",
        "--platform",
        LAMBDA_PLATFORM,
        "--implementation",
        "cp",
        "--python-version",
        LAMBDA_PYTHON,
        "--only-binary=:all:",
        "-r",
        str(requirements),
    ]
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BuildError(
            f"could not install the Lambda dependencies from {requirements} for CPython {LAMBDA_PYTHON} "
            f"{LAMBDA_PLATFORM}: {result.stderr.strip()[-1500:]}\n"
            "Check the network reaches PyPI and that every pin has a wheel for that platform."
        )


class PythonNotFound(BuildError):
    """No CPython of the Lambda runtime's version is installed."""


def find_lambda_python(version: str = LAMBDA_PYTHON) -> Path:
    """A real CPython ``version`` binary: the one that compiles the package's bytecode, and the one the local
    target runs the zip with (payments_cli.local.lambda_runtime.interpreter).

    Looks at $PAYMENTS_LAMBDA_PYTHON, pyenv's installed versions, the usual system paths, then PATH (never
    a pyenv shim, which refuses a version that is not selected).
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
    probe = "import sys; print('%d.%d' % sys.version_info[:2], sys.implementation.cache_tag)"
    wanted = [version, f"cpython-{version.replace('.', '')}"]
    for candidate in candidates:
        if not Path(candidate).is_file():
            continue
        try:
            out = subprocess.run(  # noqa: S603
                [candidate, "-c", probe], capture_output=True, text=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.stdout.split() == wanted:
            return Path(candidate)
    raise PythonNotFound(
        f"CPython {version}, the Lambda function's runtime, is not installed: install it "
        f"(`pyenv install {version}` or `apt-get install python{version}`) or point PAYMENTS_LAMBDA_PYTHON "
        "at its binary"
    )


def compile_tree(staging: Path, python: Path) -> None:
    """Compile every ``.py`` under ``staging`` into ``__pycache__/*.cpython-312.pyc`` with ``python``.

    ``unchecked-hash``: the import system trusts the .pyc without reading or hashing the source, the
    fastest load there is; safe because the deployed package is read-only (an edited source would need
    ``checked-hash``, and an edit on Lambda means a new zip anyway). The paths recorded in the code objects
    are made relative to ``/var/task`` (and CPython corrects them on import to wherever the module loads
    from), and PYTHONHASHSEED is fixed so set constants marshal in one order: two builds, identical bytes.
    """
    command = [
        str(python),
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",
        "--invalidation-mode",
        "unchecked-hash",
        "-s",
        str(staging),
        "-p",
        "/var/task",
        str(staging),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("SOURCE_DATE_EPOCH", None)
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    if result.returncode != 0:
        raise BuildError(
            f"could not compile the Lambda package with {python}: {(result.stdout + result.stderr).strip()[-1500:]}"
        )


def _ships(path: Path) -> bool:
    if path.name in _SKIPPED_FILES:
        return False
    if path.suffix == ".pyc":
        return path.parent.name == "__pycache__" and path.name.endswith(f".{PYC_TAG}.pyc")
    return True


def write_zip(staging: Path, out: Path) -> None:
    """Zip ``staging`` deterministically into ``out`` (bytecode only for the Lambda runtime, see _ships)."""
    files = []
    for root, dirs, names in os.walk(staging):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        if Path(root).relative_to(staging).as_posix() == _SDK_DATA:
            dirs[:] = [d for d in dirs if d in SDK_SERVICES]
        for name in names:
            if not _ships(Path(root, name)):
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
    """Refuse a missing zip, a placeholder, or one without the handler's module (Lambda would take it and fail
    every invocation: "Runtime.ImportModuleError: Unable to import module")."""
    if not path.is_file():
        raise BuildError(f"Lambda package {path} does not exist; build it with `payments build`")
    if not zipfile.is_zipfile(path):
        raise BuildError(f"Lambda package {path} is not a zip file (a placeholder?)")
    module = handler.rsplit(".", 1)[0].replace(".", "/") + ".py"
    stat = path.stat()
    if module not in _zip_names(path.resolve(), stat.st_size, stat.st_mtime_ns):
        raise BuildError(f"Lambda package {path} has no {module}: the handler {handler} cannot load")


@functools.lru_cache(maxsize=8)
def _zip_names(path: Path, size: int, mtime_ns: int) -> frozenset[str]:
    """The names in a zip, read once per version of the file: every function of a stack checks the same
    package, and its directory of ~18,000 entries costs ~40 ms a read. Size and mtime are in the key so a
    rebuilt zip is read again."""
    del size, mtime_ns  # only part of the cache key
    with zipfile.ZipFile(path) as archive:
        return frozenset(archive.namelist())


#: Bump when the zip's layout changes, so packages cached by an older build are not reused.
BUILD_FORMAT = "4"  # 2: hash-based .pyc for CPython 3.12 in every __pycache__; 3: botocore data of SDK_SERVICES only;
# 4: without PRUNED


def inputs_digest(root: Path) -> str:
    """SHA-256 over everything a build depends on: the lock file, the processor's files, the target
    platform. Builds are deterministic, so equal inputs mean an equal zip."""
    digest = hashlib.sha256(
        f"{BUILD_FORMAT}|{LAMBDA_PLATFORM}|{LAMBDA_PYTHON}|{','.join(SDK_SERVICES)}|{','.join(PRUNED)}".encode()
    )
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
    python = find_lambda_python()  # before the slow install: a machine without it fails at once
    with tempfile.TemporaryDirectory(prefix="lambda-build-") as folder:
        staging = Path(folder)
        install_dependencies(staging, requirements)
        shutil.copytree(source, staging / "payment_processor", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for pruned in PRUNED:
            shutil.rmtree(staging / pruned, ignore_errors=True)
        compile_tree(staging, python)
        write_zip(staging, out)
    check_package(out)
    stamp.write_text(digest + "\n")
    return LambdaPackage(out, source_code_hash(out), out.stat().st_size)
