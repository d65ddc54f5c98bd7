"""Class 4: a function's package must exist, be a real zip, carry its hash and contain its handler.
A placeholder (``filename = "lambda-placeholder.zip"``, ``source_code_hash = "placeholder-hash"``) fails
the whole deployment: "InvalidParameterValueException: Could not find file: lambda-placeholder.zip"."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

from preflight.model import Configuration, Resource, Severity, is_literal
from preflight.registry import Issue, check

# Handler module files by runtime family: "pkg.module.function" -> "pkg/module.py".
_EXTENSIONS = {"python": (".py",), "nodejs": (".js", ".mjs", ".cjs"), "ruby": (".rb",)}
MIN_REAL_ZIP_BYTES = 100


def _package(config: Configuration, function: Resource) -> Path | None:
    """The zip a function deploys: its ``filename``, or the ``source`` of the ``aws_s3_object`` its ``s3_key``
    names (a package uploaded by the same configuration); None when neither is a file this config names."""
    source = function.get("filename")
    if source is None:
        objects = config.referenced(function.get("s3_key"), "aws_s3_object")
        source = objects[0][0].get("source") if objects else None
    if not is_literal(source):
        return None
    path = Path(str(source))
    return path if path.is_absolute() else config.folder / path


def _field(function: Resource) -> str:
    """The argument a package finding is about."""
    return "filename" if function.get("filename") is not None else "s3_key"


@functools.lru_cache(maxsize=64)
def _inspect(path: str, mtime_ns: int, size: int) -> tuple[frozenset[str] | None, bytes]:
    """(entry names or None when not a zip, SHA-256) of a package; cached per file version, since
    several functions usually share one zip."""
    del mtime_ns, size  # part of the cache key only
    data = Path(path).read_bytes()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names: frozenset[str] | None = frozenset(archive.namelist())
    except zipfile.BadZipFile:
        names = None
    return names, hashlib.sha256(data).digest()


def _contents(path: Path) -> tuple[frozenset[str] | None, bytes]:
    stat = path.stat()
    return _inspect(str(path), stat.st_mtime_ns, stat.st_size)


def _is_zip(path: Path) -> bool:
    try:
        return bool(_contents(path)[0])
    except OSError:
        return False


def _sha256(path: Path) -> bytes | None:
    """The package's SHA-256, or None when it cannot be read (PF401 reports that file)."""
    try:
        return _contents(path)[1]
    except OSError:
        return None


@check(
    "PF401",
    title="Lambda package missing or a placeholder",
    severity=Severity.ERROR,
    defect_class=4,
    prevents=("placeholder-package",),
    rationale=(
        "Terraform reads the zip when it plans; a missing file fails the deploy ('InvalidParameterValueException: "
        "Could not find file: lambda-placeholder.zip'), and a placeholder deploys a function that cannot run."
    ),
    fix=(
        "build the package (`payments build`) and point filename (or the source of the aws_s3_object that s3_key "
        "names) at it, relative to the cdk.tf.json folder"
    ),
)
def package_missing(config: Configuration) -> Iterator[Issue]:
    """A package (filename, or the uploaded object's source) that does not exist, is not a non-empty zip, or
    is named like a placeholder."""
    for function in config.of_type("aws_lambda_function"):
        if function.get("image_uri"):
            continue
        path = _package(config, function)
        if path is None:
            if function.get("filename") is None and function.get("s3_bucket") is None:
                yield Issue(function.address, "filename", "no filename, s3_bucket or image_uri: no code to deploy")
            continue  # code already in a bucket this configuration does not upload: nothing here to look at
        field = _field(function)
        if "placeholder" in path.name.lower():
            yield Issue(function.address, field, f"{path.name} is a placeholder name")
        elif not path.is_file():
            yield Issue(function.address, field, f"{path} does not exist")
        elif path.stat().st_size < MIN_REAL_ZIP_BYTES or not _is_zip(path):
            yield Issue(function.address, field, f"{path} is not a zip with code in it ({path.stat().st_size} bytes)")


def _decoded(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


@check(
    "PF402",
    title="Lambda package without a true source_code_hash",
    severity=Severity.ERROR,
    defect_class=4,
    prevents=("placeholder-package",),
    rationale=(
        "Without source_code_hash Terraform cannot see that the code changed and never redeploys it; a hash that is "
        "not the zip's base64 SHA-256 ('placeholder-hash') redeploys on every apply or hides a stale package."
    ),
    fix="set source_code_hash to the base64 SHA-256 of the zip (filebase64sha256(), or the build's hash)",
)
def package_hash(config: Configuration) -> Iterator[Issue]:
    """Missing, malformed or wrong source_code_hash on a zip-file function."""
    for function in config.of_type("aws_lambda_function"):
        path = _package(config, function)
        if path is None:
            continue
        value = function.get("source_code_hash")
        if value is None:
            yield Issue(function.address, "source_code_hash", "no source_code_hash: code changes would not be deployed")
        elif is_literal(value):
            digest = _decoded(str(value))
            if digest is None or len(digest) != hashlib.sha256().digest_size:
                yield Issue(function.address, "source_code_hash", f"{value!r} is not a base64 SHA-256")
            elif path.is_file() and _sha256(path) not in (None, digest):
                yield Issue(function.address, "source_code_hash", f"does not match {path.name}: the zip changed since")


def handler_file_candidates(handler: str, runtime: str) -> list[str]:
    """Zip entries that would hold the handler's module."""
    family = next((f for f in _EXTENSIONS if runtime.startswith(f)), "")
    module = handler.rsplit(".", 1)[0]
    if family == "python":
        return [module.replace(".", "/") + ".py"]
    return [module + ext for ext in _EXTENSIONS.get(family, ())]


@check(
    "PF403",
    title="Lambda handler module not inside the package",
    severity=Severity.ERROR,
    defect_class=4,
    prevents=("placeholder-package",),
    rationale=(
        "Lambda accepts the upload and fails every invocation: 'Runtime.ImportModuleError: Unable to import "
        "module 'payment_processor.handler': No module named 'payment_processor''."
    ),
    fix="build the package from the code the handler names, or correct the handler",
)
def handler_not_in_package(config: Configuration) -> Iterator[Issue]:
    """The handler's module file is absent from the zip."""
    for function in config.of_type("aws_lambda_function"):
        path = _package(config, function)
        handler, runtime = function.get("handler"), function.get("runtime")
        if path is None or not path.is_file() or not _is_zip(path):
            continue
        if not is_literal(handler) or not is_literal(runtime):
            continue
        candidates = handler_file_candidates(str(handler), str(runtime))
        if not candidates:
            continue
        names = _contents(path)[0] or frozenset()
        if not names & set(candidates):
            yield Issue(function.address, "handler", f"{' or '.join(candidates)} is not in {path.name}")
