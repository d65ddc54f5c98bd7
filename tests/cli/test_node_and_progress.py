"""CDK's jsii runtime runs on the Node.js pinned in requirements/dev.txt, whatever node the machine has (or
none), with no end-of-life banner; ``build`` and ``synth`` say on stderr what they are doing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import payments_infra
from payments_cli import main as cli
from payments_infra.lambda_build import LambdaPackage
from tests.cli.command import PAYMENTS

#: What jsii prints on a Node it does not support or no longer supports, and what would hide it.
BANNERS = re.compile(r"end-of-life|not been tested|unsupported|Node \d+ is", re.IGNORECASE)

_KERNEL_PROBE = """
import json, os, sys
import psutil
import payments_infra
from cdktn import App
App(outdir=sys.argv[1]).synth()
kernels = [p for p in psutil.Process().children(recursive=True) if "jsii" in " ".join(p.cmdline())]
print(json.dumps({"node": [p.exe() for p in kernels], "silenced": sorted(k for k in os.environ if "SILENCE" in k)}))
"""


def _without_node() -> dict[str, str]:
    """This environment with a PATH holding no node (only this interpreter's bin folder) and no JSII_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JSII_")}
    env["PATH"] = str(Path(sys.executable).parent)
    return env


def test_jsii_runs_on_the_pinned_node_without_one_on_path(tmp_path: Path) -> None:
    env = _without_node()
    assert not any((Path(folder) / "node").exists() for folder in env["PATH"].split(os.pathsep))
    result = subprocess.run(
        [sys.executable, "-c", _KERNEL_PROBE, str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout)
    assert probe["node"] == [os.path.realpath(payments_infra.NODE)]
    assert probe["silenced"] == []
    assert not BANNERS.search(result.stderr), result.stderr
    node_version = subprocess.run([payments_infra.NODE, "--version"], capture_output=True, text=True, check=True)
    major = int(node_version.stdout.strip().lstrip("v").split(".")[0])
    assert major in (22, 24), node_version.stdout


def test_synth_on_a_machine_without_node_says_each_step(tmp_path: Path, lambda_zip: LambdaPackage) -> None:
    result = subprocess.run(
        [str(PAYMENTS), "synth", "--suffix", "pr8", "--package", str(lambda_zip.path)],
        cwd=tmp_path,
        env=_without_node(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["bootstrap", "platform"]
    assert re.fullmatch(
        rf"==> synthesizing dev/pr8 into cdktf.out with {re.escape(str(lambda_zip.path))}\n    2 stacks \(\d+\.\ds\)\n",
        result.stderr,
    ), result.stderr


def test_synth_without_a_package_builds_it_first_each_step_timed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, lambda_zip: LambdaPackage
) -> None:
    import payments_infra.lambda_build
    import payments_infra.synth

    built: list[Path] = []
    reuses: list[bool] = []
    synthesized: list[object] = []

    def build(out: Path, *, reuse: bool = False) -> LambdaPackage:
        built.append(out)
        reuses.append(reuse)
        return lambda_zip

    def synthesize(
        deployments: object, *, out: Path, package: LambdaPackage, account: object = None
    ) -> payments_infra.synth.SynthResult:
        assert account is None, "no account stack unless --account-id asks for one"
        synthesized.append(package)
        return payments_infra.synth.SynthResult(out, (), package, 0.0)

    monkeypatch.setattr(payments_infra.lambda_build, "build_lambda_package", build)
    monkeypatch.setattr(payments_infra.synth, "synthesize", synthesize)
    assert cli.main(["synth", "--suffix", "pr9", "--out", str(tmp_path)]) == 0
    assert built == [payments_infra.synth.default_package_path()] and synthesized == [lambda_zip]
    assert reuses == [True], "synth keeps a package built from the same inputs (--rebuild forces a build)"
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"==> building the Lambda package into {built[0]}"
    assert re.fullmatch(
        rf"    \d+\.\d MB, source_code_hash {re.escape(lambda_zip.source_code_hash)}, (built|reused: .*) \(\d+\.\ds\)",
        lines[1],
    )
    assert lines[2] == f"==> synthesizing dev/pr9 into {tmp_path}"
    assert re.fullmatch(r"    0 stacks \(\d+\.\ds\)", lines[3]) and len(lines) == 4


def test_build_says_what_it_is_doing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, lambda_zip: LambdaPackage
) -> None:
    import payments_infra.lambda_build

    monkeypatch.setattr(payments_infra.lambda_build, "build_lambda_package", lambda out: lambda_zip)
    assert cli.main(["build", "--out", str(tmp_path / "fn.zip")]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines()[0] == f"==> building the Lambda package into {tmp_path / 'fn.zip'}"
    assert re.fullmatch(r"    built \(\d+\.\ds\)", captured.err.splitlines()[1])
    assert captured.out.startswith(f"{lambda_zip.path}\n  size ")
