"""The jsii runtime's index of the AWS bindings: found where the runtime keeps it, built on a machine's first
synth (which says so), and what every later synth loads lazily (bench/synth_bench.py measures the gain)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from payments_infra import jsii_cache
from payments_infra.lambda_build import LambdaPackage
from tests.cli.command import PAYMENTS, payments_env

VERSION = metadata.version(jsii_cache.BINDINGS_DIST)


def _run(command: list[str], *, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def test_the_cache_root_is_the_runtimes_own(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("JSII_RUNTIME_PACKAGE_CACHE_ROOT", str(tmp_path / "configured"))
    assert jsii_cache.cache_root() == tmp_path / "configured"
    monkeypatch.delenv("JSII_RUNTIME_PACKAGE_CACHE_ROOT")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert jsii_cache.cache_root() == tmp_path / ".cache" / "aws" / "jsii" / "package-cache"


def test_indexed_means_this_versions_manifest_is_there(tmp_path: Path) -> None:
    entry = tmp_path / jsii_cache.BINDINGS_NPM / VERSION / "0123abcd"
    entry.mkdir(parents=True)
    assert not jsii_cache.indexed(tmp_path)
    (entry / ".jsii.runtime-index.v1").write_bytes(b"")  # the index alone is not done: the manifest is last
    assert not jsii_cache.indexed(tmp_path)
    (entry / jsii_cache.INDEX_MANIFEST).write_text("{}")
    assert jsii_cache.indexed(tmp_path)
    older = tmp_path / jsii_cache.BINDINGS_NPM / "0.0.1" / "beef"
    older.mkdir(parents=True)
    (older / jsii_cache.INDEX_MANIFEST).write_text("{}")
    entry.joinpath(jsii_cache.INDEX_MANIFEST).unlink()
    assert not jsii_cache.indexed(tmp_path), "another version's index does not count"


def test_a_new_machine_is_indexed_by_the_warm_step_then_every_synth_uses_it(
    tmp_path: Path, lambda_zip: LambdaPackage
) -> None:
    cache = tmp_path / "jsii-cache"  # a new machine: nothing extracted, nothing indexed
    env = payments_env(JSII_RUNTIME_PACKAGE_CACHE_ROOT=str(cache))
    warm = _run([sys.executable, "-m", "payments_infra.jsii_cache"], env=env)
    assert warm.returncode == 0, warm.stderr
    assert "==> indexing the AWS bindings for the jsii runtime" in warm.stderr
    assert f"{jsii_cache.BINDINGS_DIST} {VERSION}: indexed in {cache}" in warm.stdout
    manifest = next(cache.glob(f"{jsii_cache.BINDINGS_NPM}/{VERSION}/*/{jsii_cache.INDEX_MANIFEST}"))
    assert json.loads(manifest.read_text())["schema"] == "jsii/runtime-index"

    synth = _run(
        [str(PAYMENTS), "synth", "--suffix", "pr9", "--package", str(lambda_zip.path), "--out", "out"],
        env=env,
        cwd=tmp_path,
    )
    assert synth.returncode == 0, synth.stderr
    assert "indexing" not in synth.stderr
    assert (tmp_path / "out" / "stacks" / "payments-dev-pr9" / "cdk.tf.json").is_file()


def test_the_warm_step_make_runs_reports_the_index() -> None:
    result = _run([sys.executable, "-m", "payments_infra.jsii_cache"], env=payments_env())
    assert result.returncode == 0, result.stderr
    assert f"{jsii_cache.BINDINGS_DIST} {VERSION}: indexed in {jsii_cache.cache_root()}" in result.stdout
    assert jsii_cache.indexed()
