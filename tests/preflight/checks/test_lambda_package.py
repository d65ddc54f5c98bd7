"""PF401-PF403 (``preflight.checks.lambda_package``): the package on the dev stack swapped for code from
elsewhere, computed file names and hashes, files that are not zips, runtimes whose handler preflight
cannot map to a file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from preflight.checks.lambda_package import handler_file_candidates
from tests.preflight.checks.cases import DELETE, Case, reports_exactly, set_attributes
from tests.preflight.conftest import Fixture
from tests.preflight.mutations import Document, address, failing, findings, named, resources


def _every_function(doc: Document) -> set[str]:
    return {address("aws_lambda_function", n) for n in resources(doc, "aws_lambda_function")}


def _bad_handler(doc: Document) -> set[str]:
    return set_attributes(
        doc, "aws_lambda_function", "reconcile/function", handler="index.handler", runtime="nodejs20.x"
    )


def _placeholder_package(doc: Document) -> set[str]:
    for function in doc["resource"]["aws_lambda_function"].values():
        function["filename"] = "lambda-placeholder.zip"
    return _every_function(doc)


CASES = [
    Case("PF401", "placeholder (placeholder-package)", "dev", _placeholder_package),
    Case(
        "PF401",
        "missing zip",
        "dev",
        lambda d: set_attributes(d, "aws_lambda_function", "reconcile/function", filename="assets/nowhere/code.zip"),
    ),
    Case(
        "PF402",
        "placeholder hash (placeholder-package)",
        "dev",
        lambda d: set_attributes(d, "aws_lambda_function", "processor/function", source_code_hash="placeholder-hash"),
    ),
    Case(
        "PF402",
        "no hash",
        "dev",
        lambda d: set_attributes(d, "aws_lambda_function", "processor/function", source_code_hash=DELETE),
    ),
    Case(
        "PF402",
        "stale hash",
        "dev",
        lambda d: set_attributes(
            d,
            "aws_lambda_function",
            "reconcile/function",
            source_code_hash="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
        ),
    ),
    Case("PF403", "handler not in zip", "dev", _bad_handler),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_check_reports_exactly_the_mutated_resources(stacks: dict[str, Fixture], case: Case) -> None:
    reports_exactly(stacks, case)


PACKAGE_CHECKS = ("PF401", "PF402", "PF403")


def _reconcile(doc: Document) -> tuple[str, dict[str, Any]]:
    name, body = named(doc, "aws_lambda_function", "reconcile/function")
    return address("aws_lambda_function", name), body


def _uploaded(doc: Document, body: dict[str, Any]) -> dict[str, Any]:
    """The aws_s3_object a function's s3_key names (the stacks upload the package to their code bucket)."""
    name = body["s3_key"].removeprefix("${aws_s3_object.").removesuffix(".key}")
    uploaded: dict[str, Any] = doc["resource"]["aws_s3_object"][name]
    return uploaded


def _failing(doc: Document, fixture: Fixture) -> dict[str, set[str]]:
    return {check_id: failing(doc, fixture.path, check_id) for check_id in PACKAGE_CHECKS}


NOTHING = {check_id: set[str]() for check_id in PACKAGE_CHECKS}


def test_a_function_without_any_code_is_reported(dev: Fixture) -> None:
    doc = dev.document()
    deliver, body = _reconcile(doc)
    del body["s3_bucket"], body["s3_key"]
    found = [f for f in findings(doc, dev.path) if f.check_id == "PF401"]
    assert [(f.resource, f.message) for f in found] == [
        (deliver, "no filename, s3_bucket or image_uri: no code to deploy")
    ]


@pytest.mark.parametrize(
    "source",
    [
        {"image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/payments:1.4.2", "package_type": "Image"},
        {"s3_bucket": "payment-artifacts-dev-pr42", "s3_key": "processor/1.4.2.zip"},
    ],
    ids=["image", "s3"],
)
def test_code_from_an_image_or_s3_is_not_a_local_package(dev: Fixture, source: dict[str, str]) -> None:
    doc = dev.document()
    _, body = _reconcile(doc)
    for key in ("s3_bucket", "s3_key", "source_code_hash", "handler", "runtime"):
        del body[key]
    body.update(source)
    assert _failing(doc, dev) == NOTHING


def test_a_computed_filename_is_not_judged(dev: Fixture) -> None:
    doc = dev.document()
    _, body = _reconcile(doc)
    body["filename"] = "${data.archive_file.reconcile.output_path}"
    body["source_code_hash"] = "placeholder-hash"  # would be PF402 for a file preflight can read
    assert _failing(doc, dev) == NOTHING


def test_a_computed_hash_is_trusted(dev: Fixture) -> None:
    doc = dev.document()
    deliver, body = _reconcile(doc)
    body["source_code_hash"] = "placeholder-hash"
    assert failing(doc, dev.path, "PF402") == {deliver}
    body["source_code_hash"] = f'${{filebase64sha256("{_uploaded(doc, body)["source"]}")}}'
    assert failing(doc, dev.path, "PF402") == set()


def test_the_uploaded_object_is_the_package_judged(dev: Fixture, tmp_path: Path) -> None:
    """The functions take their code from the aws_s3_object their s3_key names: its source is the package
    PF401-403 read, and the finding is about s3_key."""
    doc = dev.document()
    deliver, body = _reconcile(doc)
    uploaded = _uploaded(doc, body)
    assert _failing(doc, dev) == NOTHING
    uploaded["source"] = "assets/lambda-placeholder.zip"
    every = {f.resource for f in findings(doc, dev.path) if f.check_id == "PF401"}
    found = [(f.attribute, f.message) for f in findings(doc, dev.path) if f.check_id == "PF401"]
    assert ("s3_key", "lambda-placeholder.zip is a placeholder name") in found
    assert deliver in every and len(every) == len(doc["resource"]["aws_lambda_function"]), "all four share it"
    small = tmp_path / "payment_processor.zip"
    small.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip: no code in it
    uploaded["source"] = str(small)
    assert f"{small} is not a zip with code in it (22 bytes)" in {
        f.message for f in findings(doc, dev.path) if f.resource == deliver and f.check_id == "PF401"
    }


def test_a_file_that_is_not_a_zip_is_reported(dev: Fixture, tmp_path: Path) -> None:
    doc = dev.document()
    deliver, body = _reconcile(doc)
    fake = tmp_path / "payment_processor.zip"
    fake.write_text("not a zip, but long enough to pass the size test " * 4)
    body["filename"] = str(fake)  # absolute: used as is
    found = [f for f in findings(doc, dev.path) if f.resource == deliver and f.check_id in PACKAGE_CHECKS]
    assert [(f.check_id, f.message) for f in found] == [
        ("PF401", f"{fake} is not a zip with code in it ({fake.stat().st_size} bytes)"),
        ("PF402", "does not match payment_processor.zip: the zip changed since"),
    ], "PF403 cannot look inside a file that is not a zip"


@pytest.mark.parametrize(
    ("handler", "runtime"),
    [
        ("com.example.payments.Handler::handleRequest", "java21"),
        ("bootstrap", "provided.al2023"),
        ("${var.handler}", "python3.12"),
        ("payment_processor.handler.reconcile", "${var.runtime}"),
    ],
)
def test_a_handler_preflight_cannot_map_to_a_file_is_not_judged(dev: Fixture, handler: str, runtime: str) -> None:
    doc = dev.document()
    deliver, body = _reconcile(doc)
    body["handler"] = "missing.handler"
    assert failing(doc, dev.path, "PF403") == {deliver}
    body["handler"], body["runtime"] = handler, runtime
    assert failing(doc, dev.path, "PF403") == set()


@pytest.mark.parametrize(
    ("handler", "runtime", "candidates"),
    [
        ("payment_processor.handler.handler", "python3.12", ["payment_processor/handler.py"]),
        ("src/index.handler", "nodejs20.x", ["src/index.js", "src/index.mjs", "src/index.cjs"]),
        ("lambda_function.lambda_handler", "ruby3.3", ["lambda_function.rb"]),
        ("com.example.Handler::handleRequest", "java21", []),
    ],
)
def test_handler_file_candidates_by_runtime(handler: str, runtime: str, candidates: list[str]) -> None:
    assert handler_file_candidates(handler, runtime) == candidates


def _python_that_cannot_read_mode_000() -> list[str]:
    """A command running this Python without the power to read a file whose mode is 000: as is for
    an ordinary user; for root, with CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH dropped (setpriv)."""
    if os.geteuid() != 0:
        return [sys.executable]
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: no way to make a file unreadable")
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", sys.executable]


def test_an_unreadable_package_is_reported_not_a_crash(dev: Fixture, tmp_path: Path) -> None:
    """A CI runner's user may not be able to read the zip: PF401 must say so, and PF402 must not
    die with PermissionError reading it for its hash."""
    doc = dev.document()
    deliver, body = _reconcile(doc)
    package = tmp_path / "payment_processor.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("payment_processor/handler.py", "def deliver(event, context):\n    return None\n" * 8)
    package.chmod(0)
    body["filename"] = str(package)
    stack = tmp_path / "cdk.tf.json"
    stack.write_text(json.dumps(doc))
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from preflight.loader import load\n"
        "from preflight.runner import run\n"
        "print(json.dumps([[f.check_id, f.resource, f.message] for f in run(load(Path(sys.argv[1])))]))\n"
    )
    result = subprocess.run(
        [*_python_that_cannot_read_mode_000(), "-c", script, str(stack)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    found = [(c, r, m) for c, r, m in json.loads(result.stdout) if r == deliver and c in PACKAGE_CHECKS]
    size = package.stat().st_size
    assert found == [("PF401", deliver, f"{package} is not a zip with code in it ({size} bytes)")]
