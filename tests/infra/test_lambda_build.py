"""The Lambda package: real, reproducible, refused when missing or a placeholder (placeholder-package)."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from payments_infra.lambda_build import (
    BuildError,
    LambdaPackage,
    build_lambda_package,
    check_package,
    find_lambda_python,
    repo_root,
    source_code_hash,
)

#: importlib.util.MAGIC_NUMBER of CPython 3.12 (the function's runtime; this test runs on 3.11).
CPYTHON_312_MAGIC = (3531).to_bytes(2, "little") + b"\r\n"


def _pyc_for(source: str) -> str:
    folder, _, name = source.rpartition("/")
    return f"{folder}/__pycache__/{name[:-3]}.cpython-312.pyc" if folder else f"__pycache__/{name[:-3]}.cpython-312.pyc"


def test_zip_holds_the_handler_and_its_dependencies_for_lambda(lambda_zip: LambdaPackage) -> None:
    names = set(zipfile.ZipFile(lambda_zip.path).namelist())
    assert "payment_processor/handler.py" in names
    assert "payment_processor/migrations/0001_payments.sql" in names
    assert "payment_processor/openapi.yaml" in names
    assert any(n.startswith("psycopg_binary/") and "cpython-312-x86_64-linux-gnu" in n for n in names)
    assert any(n.startswith("pydantic_core/") and "cpython-312-x86_64-linux-gnu" in n for n in names)
    assert not any(n.startswith("bin/") for n in names)
    assert lambda_zip.source_code_hash == source_code_hash(lambda_zip.path)


def test_every_module_ships_hash_based_bytecode_for_cpython_312(lambda_zip: LambdaPackage) -> None:
    archive = zipfile.ZipFile(lambda_zip.path)
    names = set(archive.namelist())
    sources = sorted(n for n in names if n.endswith(".py"))
    compiled = sorted(n for n in names if n.endswith(".pyc"))
    assert "payment_processor/__pycache__/handler.cpython-312.pyc" in names
    assert sorted(_pyc_for(n) for n in sources) == compiled  # one for each source, nothing else
    for name in compiled:
        header = archive.read(name)[:16]
        # PEP 552: magic, then flags (bit 0: hash-based; bit 1: check_source, clear for unchecked-hash),
        # then the source hash where a timestamp-based pyc has the source's mtime and size.
        assert header[:4] == CPYTHON_312_MAGIC, name
        assert int.from_bytes(header[4:8], "little") == 0b01, name


def test_a_missing_lambda_python_is_refused_with_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PAYMENTS_LAMBDA_PYTHON", raising=False)
    with pytest.raises(BuildError, match=r"CPython 3\.99.*pyenv install 3\.99.*PAYMENTS_LAMBDA_PYTHON"):
        find_lambda_python("3.99")


def test_entries_are_sorted_with_fixed_time_and_modes(lambda_zip: LambdaPackage) -> None:
    infos = zipfile.ZipFile(lambda_zip.path).infolist()
    assert [i.filename for i in infos] == sorted(i.filename for i in infos)
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {(i.external_attr >> 16) & 0o777 for i in infos} <= {0o644, 0o755}


def test_two_checkouts_build_byte_identical_zips(lambda_zip: LambdaPackage, tmp_path: Path) -> None:
    other = tmp_path / "checkout"
    shutil.copytree(repo_root() / "requirements", other / "requirements")
    shutil.copytree(repo_root() / "src" / "payment_processor", other / "src" / "payment_processor")
    again = build_lambda_package(tmp_path / "again.zip", root=other)
    # Compiled in another temporary folder by another process: the bytecode is identical too.
    assert "payment_processor/__pycache__/service.cpython-312.pyc" in zipfile.ZipFile(again.path).namelist()
    assert again.path.read_bytes() == lambda_zip.path.read_bytes()
    assert again.source_code_hash == lambda_zip.source_code_hash


def test_a_code_change_changes_the_hash(lambda_zip: LambdaPackage, tmp_path: Path) -> None:
    other = tmp_path / "checkout"
    shutil.copytree(repo_root() / "requirements", other / "requirements")
    shutil.copytree(repo_root() / "src" / "payment_processor", other / "src" / "payment_processor")
    (other / "src" / "payment_processor" / "api.py").write_text(
        (other / "src" / "payment_processor" / "api.py").read_text() + "\n# changed\n"
    )
    assert build_lambda_package(tmp_path / "changed.zip", root=other).source_code_hash != lambda_zip.source_code_hash


def test_a_package_rewritten_in_place_is_read_again(tmp_path: Path) -> None:
    # The names are cached per file version (every function of a stack checks the same zip), never per path.
    package = tmp_path / "payment_processor.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("payment_processor/handler.py", "def handle(event, context): ...")
    check_package(package)
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("index.js", "exports.handler = async () => ({})")
    with pytest.raises(BuildError, match=r"payment_processor/handler\.py"):
        check_package(package)


def test_missing_placeholder_or_handlerless_packages_are_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="does not exist"):
        check_package(tmp_path / "lambda-placeholder.zip")
    placeholder = tmp_path / "placeholder.zip"
    placeholder.write_text("placeholder")
    with pytest.raises(BuildError, match="not a zip"):
        check_package(placeholder)
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as archive:
        archive.writestr("index.js", "exports.handler = async () => ({})")
    with pytest.raises(BuildError, match=r"payment_processor/handler\.py"):
        check_package(empty)
