"""The Lambda package: real, reproducible, refused when missing or a placeholder (seed defect 8)."""

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
    repo_root,
    source_code_hash,
)


def test_zip_holds_the_handler_and_its_dependencies_for_lambda(lambda_zip: LambdaPackage) -> None:
    names = set(zipfile.ZipFile(lambda_zip.path).namelist())
    assert "payment_processor/handler.py" in names
    assert "payment_processor/migrations/0001_payments.sql" in names
    assert "payment_processor/openapi.yaml" in names
    assert any(n.startswith("psycopg_binary/") and "cpython-312-x86_64-linux-gnu" in n for n in names)
    assert any(n.startswith("pydantic_core/") and "cpython-312-x86_64-linux-gnu" in n for n in names)
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert lambda_zip.source_code_hash == source_code_hash(lambda_zip.path)


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
