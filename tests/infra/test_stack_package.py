"""The functions' code in the synthesized stacks is the real zip (placeholder-package)."""

from __future__ import annotations

import base64
import zipfile
from pathlib import Path

import pytest

from payments_infra.lambda_build import BuildError, LambdaPackage, source_code_hash
from payments_infra.synth import Deployment, SynthResult, synthesize
from tests.infra.tfjson import Stack


def test_functions_ship_the_built_zip_with_its_hash(env_stack: Stack, lambda_zip: LambdaPackage) -> None:
    (code_bucket,) = [
        name for name, b in env_stack.resources("aws_s3_bucket").items() if b["bucket"].startswith("payment-code-")
    ]
    for function in env_stack.resources("aws_lambda_function").values():
        assert "filename" not in function, "from the code bucket: Lambda copies it, every function at once"
        assert function["s3_bucket"] == f"${{aws_s3_bucket.{code_bucket}.bucket}}"
        uploaded = env_stack.package_object(function)
        assert not Path(uploaded["source"]).is_absolute(), "relative to the stack folder, so it can move"
        assert uploaded["bucket"] == f"${{aws_s3_bucket.{code_bucket}.id}}"
        # A new build is a new key (its SHA-256), so the functions move to new code together.
        digest = base64.b64decode(lambda_zip.source_code_hash).hex()
        assert uploaded["key"] == f"payment_processor/{digest}.zip"
        assert uploaded["source_hash"] == lambda_zip.source_code_hash
        package = env_stack.package(function)
        assert package.is_file()
        assert package.read_bytes() == lambda_zip.path.read_bytes()
        assert function["source_code_hash"] == source_code_hash(package) == lambda_zip.source_code_hash
        module = function["handler"].rsplit(".", 1)[0].replace(".", "/") + ".py"
        assert module in zipfile.ZipFile(package).namelist()


def test_synthesis_refuses_a_missing_or_placeholder_package(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(BuildError, match="does not exist"):
        synthesize([Deployment("dev", "pr42")], out=out, package=tmp_path / "lambda-placeholder.zip")
    placeholder = tmp_path / "placeholder.zip"
    placeholder.write_text("placeholder-hash")
    with pytest.raises(BuildError, match="not a zip"):
        synthesize([Deployment("dev", "pr42")], out=out, package=placeholder)
    assert not out.exists()


def test_the_platform_stack_refuses_a_zip_without_the_handler(tmp_path: Path) -> None:
    """Each function's HandlerInPackage validation runs when the app is synthesized: cdktn collects every
    construct's errors into one RuntimeError, and writes no stack."""
    from cdktn import App

    from payments_infra.environments import DEV
    from payments_infra.naming import Naming
    from payments_infra.stacks.platform import PlatformStack
    from payments_infra.synth import TARGET_VERSIONS

    wrong = tmp_path / "index.zip"
    with zipfile.ZipFile(wrong, "w") as archive:
        archive.writestr("index.js", "exports.handler = async () => ({})")
    package = LambdaPackage(wrong, source_code_hash(wrong), wrong.stat().st_size)
    out = tmp_path / "out"
    app = App(outdir=str(out), stack_traces=False, context={"targetVersions": TARGET_VERSIONS})
    PlatformStack(app, config=DEV, naming=Naming("dev", "pr42"), package=package)  # constructing is fine
    with pytest.raises(RuntimeError, match="Validation failed with the following errors") as raised:
        app.synth()
    errors = [line.strip() for line in str(raised.value).splitlines() if line.startswith("  [")]
    assert errors == [
        f"[payments-dev-pr42/{function}] Lambda package {wrong} has no {module}: the handler {handler} cannot load"
        for function, module, handler in (
            ("processor", "payment_processor/handler.py", "payment_processor.handler.handler"),
            ("reconcile", "payment_processor/handler.py", "payment_processor.handler.reconcile"),
            ("webhooks", "payment_processor/handler.py", "payment_processor.handler.send_webhooks"),
            ("authorizer", "payment_processor/handler.py", "payment_processor.handler.authorizer"),
            ("admin", "payment_processor/admin.py", "payment_processor.admin.handler"),
        )
    ]
    assert not list(out.rglob("cdk.tf.json")), "no stack that names code it does not ship"


def test_assets_are_shared_not_duplicated_per_function(synthesized: SynthResult) -> None:
    stack = Stack.load(synthesized.stack("dev", "pr42").path)
    keys = {f["s3_key"] for f in stack.resources("aws_lambda_function").values()}
    assert len(keys) == 1 and len(stack.resources("aws_s3_object")) == 1
